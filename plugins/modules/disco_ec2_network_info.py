#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find a Disco cluster's network: its VPC, the subnets its nodes start in and its security groups as ids."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation strings before the imports

DOCUMENTATION = r"""
---
module: disco_ec2_network_info
short_description: Find a Disco cluster's VPC, subnets and security group ids, before anything is created
version_added: 0.1.0
description:
  - With O(subnet_ids), the cluster's VPC is the VPC of those subnets; every listed subnet must exist and all must
    be in one VPC (a cluster's nodes and its security group live in one VPC).
  - Without O(subnet_ids), the cluster's VPC is the region's default VPC and its subnets are the default VPC's
    subnets (one per zone). A region without a default VPC (many organisations delete it) is an error that says
    so and names C(disco_subnet_ids).
  - Security groups in O(security_groups) are resolved to ids in that VPC. AWS accepts group names only for the
    default VPC, and launch templates used with subnets need ids, so the nodes are always launched with ids.
    C(sg-) ids are checked to belong to the VPC; a name that matches no group of the VPC is an error naming it.
  - Makes only C(Describe*) calls; changes nothing.
author:
  - disposable.disco developers (@disposable-disco)
options:
  subnet_ids:
    description: The subnets the user listed (C(disco_subnet_ids)); empty means the default VPC's subnets.
    type: list
    elements: str
    default: []
  security_groups:
    description: Security group names or C(sg-) ids the user listed (C(disco_security_groups)).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - disposable.disco.read_only
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Find the cluster's network
  disposable.disco.disco_ec2_network_info:
    subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
    security_groups: [my-office-ssh, sg-0123456789abcdef0]
  register: network
"""

RETURN = r"""
vpc_id:
  description: The cluster's VPC.
  returned: always
  type: str
default_vpc:
  description: Whether it is the region's default VPC.
  returned: always
  type: bool
subnet_ids:
  description: The subnets the nodes start in (those given, or the default VPC's, sorted by zone).
  returned: always
  type: list
  elements: str
zones:
  description: Subnet id -> Availability Zone.
  returned: always
  type: dict
security_group_ids:
  description: O(security_groups) as ids, in the order given.
  returned: always
  type: list
  elements: str
"""

import contextlib
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


class NetworkError(Exception):
    """A network setting that cannot work; the message names the setting."""


def paginated(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator(operation).paginate(**kwargs).build_full_result()
    return list(pages.get(key, []))


def given_subnets(client: Any, subnet_ids: list[str]) -> list[dict[str, Any]]:
    """The listed subnets, each of which must exist."""
    try:
        found = paginated(client, "describe_subnets", "Subnets", SubnetIds=subnet_ids)
    except is_boto3_error_code("InvalidSubnetID.NotFound") as error:
        raise NetworkError(f"disco_subnet_ids: {error.response['Error'].get('Message', '')}".rstrip()) from None
    missing = sorted(set(subnet_ids) - {s["SubnetId"] for s in found})
    if missing:
        raise NetworkError(f"disco_subnet_ids: no such subnet in this region: {', '.join(missing)}")
    vpcs: dict[str, list[str]] = {}
    for subnet in found:
        vpcs.setdefault(subnet["VpcId"], []).append(subnet["SubnetId"])
    if len(vpcs) > 1:
        listed = "; ".join(f"{vpc}: {', '.join(sorted(ids))}" for vpc, ids in sorted(vpcs.items()))
        raise NetworkError(f"disco_subnet_ids: the subnets are in {len(vpcs)} VPCs ({listed}); list subnets of one VPC")
    order = {subnet_id: index for index, subnet_id in enumerate(subnet_ids)}
    return sorted(found, key=lambda s: order[s["SubnetId"]])


def default_subnets(client: Any) -> tuple[str, list[dict[str, Any]]]:
    """The default VPC and its subnets (one per zone), sorted by zone."""
    vpcs = paginated(client, "describe_vpcs", "Vpcs", Filters=[{"Name": "is-default", "Values": ["true"]}])
    if not vpcs:
        raise NetworkError(
            "disco_subnet_ids: this region has no default VPC (it was deleted, as many organisations do), so there "
            "is nowhere to start the nodes without being told: set disco_subnet_ids to one or more subnets of one "
            "of your VPCs, e.g. disco_subnet_ids: [subnet-0123456789abcdef0]"
        )
    vpc_id = vpcs[0]["VpcId"]
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default-for-az", "Values": ["true"]}]
    subnets = paginated(client, "describe_subnets", "Subnets", Filters=filters)
    if not subnets:
        raise NetworkError(f"disco_subnet_ids: the default VPC {vpc_id} has no default subnet; list subnets instead")
    return vpc_id, sorted(subnets, key=lambda s: (s["AvailabilityZone"], s["SubnetId"]))


def security_group_ids(client: Any, vpc_id: str, groups: list[str]) -> list[str]:
    """The given names and ids as ids of groups in ``vpc_id``."""
    if not groups:
        return []
    found = paginated(
        client, "describe_security_groups", "SecurityGroups", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )
    by_id = {g["GroupId"]: g for g in found}
    by_name = {g["GroupName"]: g for g in found}
    out, unknown = [], []
    for group in groups:
        match = by_id.get(group) if group.startswith("sg-") else by_name.get(group)
        if match is None:
            unknown.append(group)
        elif match["GroupId"] not in out:
            out.append(match["GroupId"])
    if unknown:
        raise NetworkError(
            f"disco_security_groups: no security group {', '.join(unknown)} in the cluster's VPC {vpc_id} "
            "(names and sg- ids must be of the VPC of disco_subnet_ids, or of the default VPC without them)"
        )
    return out


def network(client: Any, subnet_ids: list[str], groups: list[str]) -> dict[str, Any]:
    if subnet_ids:
        subnets = given_subnets(client, subnet_ids)
        vpc_id = subnets[0]["VpcId"]
    else:
        vpc_id, subnets = default_subnets(client)
    default = bool(subnets[0].get("DefaultForAz")) if not subnet_ids else is_default_vpc(client, vpc_id)
    return {
        "vpc_id": vpc_id,
        "default_vpc": default,
        "subnet_ids": [s["SubnetId"] for s in subnets],
        "zones": {s["SubnetId"]: s["AvailabilityZone"] for s in subnets},
        "security_group_ids": security_group_ids(client, vpc_id, groups),
    }


def is_default_vpc(client: Any, vpc_id: str) -> bool:
    vpcs = paginated(client, "describe_vpcs", "Vpcs", VpcIds=[vpc_id])
    return bool(vpcs and vpcs[0].get("IsDefault"))


def main() -> None:
    argument_spec = {
        "subnet_ids": {"type": "list", "elements": "str", "default": []},
        "security_groups": {"type": "list", "elements": "str", "default": []},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=5))
    try:
        result = network(client, module.params["subnet_ids"], module.params["security_groups"])
    except NetworkError as error:
        module.fail_json(msg=str(error))
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="EC2 call failed")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
