#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""List a disposable.disco cluster's spot requests and instances in one go and plan how to converge it."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation strings before the imports

DOCUMENTATION = r"""
---
module: disco_ec2_cluster_info
short_description: List a Disco cluster's spot requests and instances and plan how to converge them
version_added: 0.1.0
description:
  - Finds the cluster by its tags only (O(tag_key)=O(cluster_name), plus C(disco-role) and C(disco-group)) with one
    C(DescribeInstances) call, one C(DescribeSpotInstanceRequests) (spot requests of versions before 0.2, which are
    cancelled) and, when O(plan) is not V(none), one C(DescribeLaunchTemplates).
    One more C(DescribeInstances) finds instances that such legacy requests launched but that carry no tags yet.
  - Returns the running nodes (with the inventory variables the C(disco_master) and C(disco_slaves) groups need),
    the open and failed requests, and a status report.
  - With O(plan=present) it also computes what would make EC2 match the configuration given in O(master) and
    O(slave_groups) (per group the nodes missing and what M(disposable.disco.disco_ec2_fleet) needs to start them,
    the open requests to cancel, the newest excess instances to terminate, the instances to tag); with
    O(plan=absent) what removes the whole cluster, launch templates included. It changes nothing itself.
author:
  - disposable.disco developers (@disposable-disco)
options:
  plan:
    description:
      - V(none) only describes the cluster.
      - V(present) plans how to reach O(master) plus O(slave_groups).
      - V(absent) plans how to remove every request and instance of the cluster.
    type: str
    choices: [none, present, absent]
    default: none
  master:
    description: The master, as in the C(disco_cluster.master) fact; needed by O(plan=present).
    type: dict
    suboptions:
      # What the master and a slave group both give (the anchor is merged into O(slave_groups) below).
      <<: &node_suboptions
        instance_type:
          description: The instance type, when C(instance_types) is not given.
          type: str
        instance_types:
          description: The instance types it may use, in order of preference.
          type: list
          elements: str
        max_price:
          description: Spot max price in USD per hour; unset means the on-demand price.
          type: str
        multiplier:
          description: Accepted so that the configuration's entry can be passed as it is; not used here.
          type: int
      market:
        description: V(spot) requests a spot instance, V(on-demand) runs an on-demand one.
        type: str
        choices: [spot, on-demand]
        default: spot
  slave_groups:
    description: The slave groups, as in the C(disco_cluster.slave_groups) fact; used by O(plan=present).
    type: list
    elements: dict
    default: []
    suboptions:
      <<: *node_suboptions
      name:
        description: Name of the group, the value of the C(disco-group) tag of its nodes.
        type: str
        required: true
      count:
        description: Number of slaves the group should have.
        type: int
        required: true
  ssh_user:
    description: User Ansible logs in as; used for RV(nodes[].hostvars) and the tunnel command.
    type: str
    default: admin
  ssh_address:
    description: Address Ansible uses, V(auto) being the public one when the instance has one, else the private one.
    type: str
    choices: [auto, public, private]
    default: auto
  ssh_via_master:
    description: Reach the slaves at their private address through the master as SSH jump host.
    type: bool
    default: false
  ssh_jump_host:
    description:
      - A bastion (V(user@host) or V(user@host:port)) through which every node is reached at its private address
        (C(-o ProxyJump)); it takes precedence over O(ssh_via_master).
    type: str
  ssh_known_hosts:
    description:
      - The cluster's own known_hosts file on the controller. When set, RV(nodes[].hostvars) know each node's host
        key by its instance id in it (C(HostKeyAlias), C(StrictHostKeyChecking=accept-new)), the master's too when
        it is the jump host of O(ssh_via_master).
      - Empty leaves host keys to the user's own known_hosts.
    type: str
    default: ""
  admin_keys:
    description:
      - Public SSH keys (the cluster's MGMT keys) the planned user data gives the image's admin user, through
        cloud-init's C(ssh_authorized_keys), so that nodes started without an EC2 key pair are reachable.
    type: list
    elements: str
    default: []
  lifetime:
    description:
      - How the cluster ends itself (C(disco_idle_timeout) minutes, C(disco_max_lifetime) hours, 0 for never). When
        given, RV(status_report) says when and RV(lifetime) gives the deadline, counted from the cluster's first
        launch (RV(lifetime.started)).
    type: dict
    suboptions:
      idle_timeout:
        description: Minutes without a Disco job after which the master ends the cluster; 0 never.
        type: int
        default: 0
      max_lifetime:
        description: Hours since the first launch after which the master ends the cluster; 0 never.
        type: float
        default: 0
  launch_templates:
    description:
      - Also list the cluster's launch templates when O(plan) is not V(none). V(false) saves the call when they are
        known already (a wait after a launch).
    type: bool
    default: true
notes:
  - Instances that are gone are not counted, so the plan replaces them. Running nodes of an instance type no
    longer listed stay.
  - Scaling down terminates the newest running instances of the group.
extends_documentation_fragment:
  - disposable.disco.cluster
  - disposable.disco.read_only
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Plan the cluster
  disposable.disco.disco_ec2_cluster_info:
    cluster_name: "{{ disco_cluster.name }}"
    tag_key: "{{ disco_cluster.tag_key }}"
    plan: present
    master: "{{ disco_cluster.master }}"
    slave_groups: "{{ disco_cluster.slave_groups }}"
  register: cluster

- name: Show it
  ansible.builtin.debug:
    msg: "{{ cluster.plan_report + cluster.status_report }}"
"""

RETURN = r"""
nodes:
  description: The running and pending nodes, master first.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance id.
      type: str
    role:
      description: V(master) or V(slave).
      type: str
    group:
      description: The slave group (V(master) for the master).
      type: str
    state:
      description: The instance state, V(pending) or V(running).
      type: str
    address:
      description: The address Ansible uses, per O(ssh_address).
      type: str
    hostvars:
      description: The inventory variables of the node, as C(inventory/aws_ec2.yml) composes them.
      type: dict
  sample: [{"instance_id": "i-0123456789abcdef0", "role": "master", "group": "master", "state": "running"}]
master:
  description: The master node (one of RV(nodes)), or null when none runs.
  returned: always
  type: dict
other_instances:
  description: The cluster's instances that are neither running, pending nor terminated (stopping, stopped, ...).
  returned: always
  type: list
  elements: dict
launch_templates:
  description: The cluster's launch templates (when O(plan) is not V(none)).
  returned: always
  type: list
  elements: dict
requests:
  description: Every spot request of the cluster, with its state, status code and instance.
  returned: always
  type: list
  elements: dict
open_requests:
  description: The requests not fulfilled yet, with their status code and message.
  returned: always
  type: list
  elements: dict
failed_requests:
  description: The requests that failed or were closed by AWS (price, capacity, ...).
  returned: always
  type: list
  elements: dict
pending_instances:
  description: Ids of the nodes still in the C(pending) state.
  returned: always
  type: list
  elements: str
missing:
  description:
    - Per group (V(master), V(slave/<group>)), how many running or pending nodes are short of the configuration.
  returned: when O(plan=present)
  type: dict
  sample: {"master": 0, "slave/default": 2}
missing_total:
  description: The sum of RV(missing).
  returned: always
  type: int
plan:
  description: What would make EC2 match the configuration; empty lists when it matches (or when O(plan=none)).
  returned: always
  type: dict
  contains:
    missing:
      description: Per group, the nodes short of the configuration.
      type: dict
    launch:
      description:
        - Per group short of nodes, the count, market, instance types, max price, tags, user data and C(started)
          (RV(lifetime.started), for the new nodes' C(disco-started) tag); no client token,
          M(disposable.disco.disco_ec2_fleet) draws a fresh one per run.
      type: list
      elements: dict
    cancel:
      description: Open spot requests to cancel (only versions before 0.2 made them).
      type: list
      elements: str
    delete_templates:
      description: The cluster's launch templates to delete (O(plan=absent)).
      type: list
      elements: str
    terminate_requests:
      description: Active requests to cancel together with their instances (excess nodes).
      type: list
      elements: str
    terminate_instances:
      description: Instances to terminate that have no live request (on-demand or orphaned ones).
      type: list
      elements: str
    tag:
      description: Lists of C(resource_ids) with the C(tags) they lack.
      type: list
      elements: dict
    changes:
      description: Number of changing actions in the plan.
      type: int
tunnel_command:
  description:
    - The SSH command that forwards localhost:8989 to Disco's proxy on the master (its 127.0.0.1:8999), which
      serves the web UI, the master's API and the nodes' data (results, DDFS blobs).
  returned: always
  type: str
  sample: ssh -N -L 8989:127.0.0.1:8999 admin@203.0.113.10
proxy_export:
  description: The shell line that points Disco's client at the tunnel.
  returned: always
  type: str
  sample: export DISCO_PROXY=http://localhost:8989 DISCO_MASTER=http://localhost:8989
status_report:
  description: A human-readable status, one line per node and per open or failed request, then the tunnel.
  returned: always
  type: list
  elements: str
plan_report:
  description: RV(plan) in words, one line per action; empty when nothing is to change.
  returned: always
  type: list
  elements: str
lifetime:
  description: When the cluster ends itself.
  returned: always
  type: dict
  contains:
    started:
      description:
        - The cluster's first launch (ISO 8601, UTC) - the earliest C(disco-started) tag (else launch time) of its
          live nodes, or now when none runs; new nodes are tagged with it (C(started) of each RV(plan.launch) entry).
      type: str
      sample: "2026-12-02T05:49:10Z"
    idle_timeout:
      description: As given in O(lifetime.idle_timeout) (0 without O(lifetime)).
      type: int
    max_lifetime:
      description: As given in O(lifetime.max_lifetime) (0 without O(lifetime)).
      type: float
    deadline:
      description: When the lifetime ends (ISO 8601, UTC); empty without a lifetime limit.
      type: str
    seconds_left:
      description: Seconds until RV(lifetime.deadline); null without a lifetime limit.
      type: int
problems:
  description:
    - Why the cluster is not complete, one line per open request, pending instance, failed request
      or group short of nodes.
  returned: always
  type: list
  elements: str
"""

import contextlib
import datetime as dt
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.ec2 import (
    AnsibleEC2Error,
    describe_instances,
    describe_spot_instance_requests,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import (
    CLUSTER_OPTIONS,
    FILTER_CHUNK,
    chunks,
    desired_groups,
    group_key,
)
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2_observe import (
    alive_nodes,
    observe,
    summarise,
)
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2_plan import make_plan
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2_report import (
    plan_lines,
    problem_lines,
    report_lines,
)
from ansible_collections.disposable.disco.plugins.module_utils.disco_lifetime import (
    lifetime,
    lifetime_lines,
    started_at,
)

INSTANCES_PAGE = 1000


def _instances(reservations: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [instance for reservation in reservations or [] for instance in reservation.get("Instances", [])]


def describe_cluster(
    module: AnsibleAWSModule, tag_key: str, cluster_name: str, templates: bool
) -> tuple[list[dict], list[dict], list[dict]]:
    """The cluster's spot requests (of versions before 0.2), instances and (when asked) launch templates."""
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    cluster_filter = [{"Name": f"tag:{tag_key}", "Values": [cluster_name]}]
    found_templates: list[dict] = []
    try:
        requests = describe_spot_instance_requests(client, Filters=cluster_filter) or []
        # Up to 1000 instances per page (AWS's maximum), so a 1+300 cluster is one call, not one per 100.
        instances = _instances(
            describe_instances(client, Filters=cluster_filter, PaginationConfig={"PageSize": INSTANCES_PAGE})
        )
        known = {instance["InstanceId"] for instance in instances}
        untagged = sorted({r["InstanceId"] for r in requests if r.get("InstanceId")} - known)
        for ids in chunks(untagged, FILTER_CHUNK):
            instances.extend(_instances(describe_instances(client, Filters=[{"Name": "instance-id", "Values": ids}])))
    except AnsibleEC2Error as error:
        module.fail_json_aws_error(error)
    if templates:
        try:
            paginator = client.get_paginator("describe_launch_templates")
            found_templates = paginator.paginate(Filters=cluster_filter).build_full_result().get("LaunchTemplates", [])
        except (BotoCoreError, ClientError) as error:
            module.fail_json_aws(error, msg="DescribeLaunchTemplates failed")
    return requests, instances, found_templates


def main() -> None:
    node_options = {  # what the master and a slave group both give
        "instance_type": {"type": "str"},
        "instance_types": {"type": "list", "elements": "str"},
        "max_price": {"type": "str"},
        "multiplier": {"type": "int"},
    }
    group_options = {
        **node_options,
        "name": {"type": "str", "required": True},
        "count": {"type": "int", "required": True},
    }
    argument_spec = {
        **CLUSTER_OPTIONS,
        "plan": {"type": "str", "choices": ["none", "present", "absent"], "default": "none"},
        "master": {
            "type": "dict",
            "options": {**node_options, "market": {"type": "str", "choices": ["spot", "on-demand"], "default": "spot"}},
        },
        "slave_groups": {"type": "list", "elements": "dict", "default": [], "options": group_options},
        "ssh_user": {"type": "str", "default": "admin"},
        "ssh_address": {"type": "str", "choices": ["auto", "public", "private"], "default": "auto"},
        "ssh_via_master": {"type": "bool", "default": False},
        "ssh_jump_host": {"type": "str"},
        "ssh_known_hosts": {"type": "str", "default": ""},
        "launch_templates": {"type": "bool", "default": True},
        "lifetime": {
            "type": "dict",
            "options": {
                "idle_timeout": {"type": "int", "default": 0},
                "max_lifetime": {"type": "float", "default": 0},
            },
        },
        "admin_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
    }
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("plan", "present", ("master",))],
    )
    params = module.params
    name, tag_key = params["cluster_name"], params["tag_key"]
    templates_wanted = params["plan"] != "none" and params["launch_templates"]
    requests, instances, templates = describe_cluster(module, tag_key, name, templates_wanted)
    observed = observe(tag_key, name, requests, instances, templates)
    ssh = {key: params[key] for key in ("ssh_user", "ssh_address", "ssh_via_master", "ssh_jump_host")}
    ssh["known_hosts"] = params["ssh_known_hosts"]
    groups = desired_groups(params["master"], params["slave_groups"]) if params["plan"] == "present" else None
    multipliers = {group_key(g["role"], g["group"]): g["multiplier"] for g in groups or []}
    summary = summarise(name, observed, ssh, multipliers)
    now = dt.datetime.now(dt.UTC)
    started = started_at(alive_nodes(observed), now)
    limits = params["lifetime"] or {"idle_timeout": 0, "max_lifetime": 0}
    ends = lifetime(started, limits["idle_timeout"], limits["max_lifetime"], now)
    plan = make_plan(
        tag_key,
        name,
        observed,
        groups,
        absent=params["plan"] == "absent",
        ssh_address=ssh["ssh_address"],
        ssh_via_master=ssh["ssh_via_master"],
        admin_keys=params["admin_keys"],
        started=started,
    )
    result: dict[str, Any] = dict(summary)
    result.update(
        {
            "changed": False,
            "requests": sorted(observed["requests"].values(), key=lambda r: r["request_id"]),
            "plan": plan,
            "missing": plan["missing"],
            "missing_total": sum(plan["missing"].values()),
            "status_report": report_lines(name, summary)
            + (lifetime_lines(ends, bool(summary["nodes"])) if params["lifetime"] else []),
            "lifetime": ends,
            "plan_report": plan_lines(plan),
            "problems": problem_lines(summary, plan["missing"]),
        }
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
