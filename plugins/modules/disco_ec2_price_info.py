#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Disco cluster's price per hour and the estimate so far, from EC2's spot price history."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation strings before the imports

DOCUMENTATION = r"""
---
module: disco_ec2_price_info
short_description: A Disco cluster's price per hour and its cost so far, from EC2's spot price history
version_added: 0.1.0
description:
  - Looks up the current spot price of every instance type the cluster runs or may launch, in O(zones) (every zone
    of the region when empty), with one paginated C(DescribeSpotPriceHistory) call (product C(Linux/UNIX),
    C(StartTime) now, so that EC2 answers the price in effect now, one entry per type and zone).
  - Prices the running O(nodes) (a spot node at the price of its type in its zone) and the nodes still to launch
    (O(missing)), which are estimated at the lowest current spot price among their group's types and zones, about
    what EC2 Fleet's price-capacity-optimized strategy gets.
  - On-demand nodes are not priced. Their price is not in the spot price history and EC2's API has no call for it
    (AWS's Price List API, C(pricing:GetProducts), is a separate service with its own endpoints and permission);
    the report says so instead of guessing.
  - When the lookup is refused (a policy without C(ec2:DescribeSpotPriceHistory)) the module warns and reports
    every node as not priced; it never fails a launch for a price.
author:
  - disposable.disco developers (@disposable-disco)
options:
  master:
    description: The master, as in the C(disco_cluster.master) fact (instance types, market, max price).
    type: dict
    required: true
  slave_groups:
    description: The slave groups, as in the C(disco_cluster.slave_groups) fact.
    type: list
    elements: dict
    default: []
  nodes:
    description: The cluster's nodes, as RV(disposable.disco.disco_ec2_cluster_info#module:nodes) returns them.
    type: list
    elements: dict
    default: []
  missing:
    description:
      - Per group (V(master), V(slave/<group>)), the nodes still to launch, as
        RV(disposable.disco.disco_ec2_cluster_info#module:missing) returns them.
    type: dict
    default: {}
  zones:
    description: The zones the cluster's subnets are in; empty means every zone of the region.
    type: list
    elements: str
    default: []
  per_node:
    description: One line per node with its hours run and its cost so far (the status), instead of one per group.
    type: bool
    default: false
notes:
  - The estimate so far is hours run times the spot price now, not the bill; spot prices change slowly, and AWS
    bills spot Linux instances per second at the price of each period.
extends_documentation_fragment:
  - disposable.disco.read_only
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Price the cluster
  disposable.disco.disco_ec2_price_info:
    master: "{{ disco_cluster.master }}"
    slave_groups: "{{ disco_cluster.slave_groups }}"
    nodes: "{{ cluster.nodes }}"
    missing: "{{ cluster.missing }}"
    zones: ["us-east-1a", "us-east-1b"]
  register: price

- name: Show it
  ansible.builtin.debug:
    msg: "{{ price.cost_report }}"
"""

RETURN = r"""
prices:
  description: The latest spot price per instance type and zone that EC2 answered.
  returned: always
  type: list
  elements: dict
  contains:
    instance_type:
      description: The instance type.
      type: str
    zone:
      description: The availability zone.
      type: str
    price:
      description: The spot price in USD per hour.
      type: str
  sample: [{"instance_type": "m5.large", "zone": "us-east-1a", "price": "0.0350"}]
cost:
  description: The figures, in USD with 4 decimals.
  returned: always
  type: dict
  contains:
    per_hour:
      description: The running spot nodes' price per hour.
      type: str
    per_hour_with_planned:
      description: RV(cost.per_hour) plus the estimate for the nodes still to launch.
      type: str
    so_far:
      description: Sum over the running spot nodes of hours run times the spot price now.
      type: str
    on_demand_nodes:
      description: On-demand nodes, running or to launch, which are not priced.
      type: int
    unpriced_nodes:
      description: Spot nodes without a price in the history (or above their max price, for nodes to launch).
      type: int
  sample: {"per_hour": "0.0700", "per_hour_with_planned": "0.0700", "so_far": "0.0175", "on_demand_nodes": 1,
           "unpriced_nodes": 0}
cost_report:
  description: The cost in words, one line per group (or node), then the total.
  returned: always
  type: list
  elements: str
"""

import contextlib
import datetime as dt
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import desired_groups
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2_cost import cost_report, latest_prices

PRODUCT = "Linux/UNIX"
PAGE = 1000  # AWS's maximum MaxResults for DescribeSpotPriceHistory


def spot_prices(module: AnsibleAWSModule, instance_types: list[str], zones: list[str], now: dt.datetime) -> list[dict]:
    """The spot price history entries in effect at ``now`` for the types (in the zones); [] with a warning on error."""
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    args: dict[str, Any] = {
        "InstanceTypes": instance_types,
        "ProductDescriptions": [PRODUCT],
        "StartTime": now,
        "PaginationConfig": {"PageSize": PAGE},
    }
    if zones:
        args["Filters"] = [{"Name": "availability-zone", "Values": zones}]
    try:
        paginator = client.get_paginator("describe_spot_price_history")
        return paginator.paginate(**args).build_full_result().get("SpotPriceHistory", [])
    except (BotoCoreError, ClientError) as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        module.warn(f"DescribeSpotPriceHistory failed ({code}): the cost is not shown")
        return []


def main() -> None:
    argument_spec = {
        "master": {"type": "dict", "required": True},
        "slave_groups": {"type": "list", "elements": "dict", "default": []},
        "nodes": {"type": "list", "elements": "dict", "default": []},
        "missing": {"type": "dict", "default": {}},
        "zones": {"type": "list", "elements": "str", "default": []},
        "per_node": {"type": "bool", "default": False},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    groups = desired_groups(params["master"], params["slave_groups"])
    types = sorted(
        {t for group in groups for t in group["instance_types"]} | {n["instance_type"] for n in params["nodes"]}
    )
    zones = sorted(set(params["zones"]))
    # The running nodes' own zones too, in case they started in a subnet the configuration no longer lists.
    asked = sorted(set(zones) | {n["availability_zone"] for n in params["nodes"] if n.get("availability_zone")})
    now = dt.datetime.now(dt.UTC)
    prices = latest_prices(spot_prices(module, types, asked if zones else [], now))
    missing = {key: int(count) for key, count in params["missing"].items()}
    cost = cost_report(groups, params["nodes"], missing, prices, zones or None, now, per_node=params["per_node"])
    module.exit_json(
        changed=False,
        prices=[{"instance_type": t, "zone": z, "price": str(p)} for (t, z), p in sorted(prices.items())],
        cost={key: value for key, value in cost.items() if key != "lines"},
        cost_report=cost["lines"],
    )


if __name__ == "__main__":
    main()
