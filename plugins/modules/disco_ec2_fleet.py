#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start a Disco cluster's missing nodes with one launch template and one EC2 Fleet (instant) call per group."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation strings before the imports

DOCUMENTATION = r"""
---
module: disco_ec2_fleet
short_description: Start a Disco cluster's missing nodes through launch templates and EC2 Fleet (instant)
version_added: 0.1.0
description:
  - With O(state=present), for each entry of O(launch) (one node group short of nodes, as planned by
    M(disposable.disco.disco_ec2_cluster_info)) it makes sure a launch template of the group exists (AMI, key,
    network interface with the security group ids and a public address or not, user data, the group's tags for
    the instance and its volumes, instance-initiated shutdown terminates) and asks EC2 Fleet C(type=instant) once
    for all the group's missing nodes across every listed instance type and subnet, with the
    C(price-capacity-optimized) allocation strategy.
  - Every instance and volume carries the cluster's tags from the moment it exists (tag specifications at
    creation). An instant fleet leaves no request open; what EC2 could not start is answered at once, in the
    fleet's C(Errors), and nothing is started later.
  - Instance types and subnets without spot capacity (C(InsufficientInstanceCapacity), C(capacity-not-available),
    C(MaxSpotInstanceCountExceeded), ...) are skipped by EC2 and reported in RV(groups[].skipped). When no listed
    type and subnet has spot capacity for all the nodes, O(spot_fallback=on-demand) starts the rest on-demand with
    one more fleet call; O(spot_fallback=fail) leaves them missing (RV(shortfall_total)) and keeps what started.
  - Each call carries a client token drawn afresh for this run, so a retry of the call (the same parameters) is
    not executed twice, while a later run never replays an earlier run's answer.
  - With O(state=absent) it terminates the instances given in O(terminate_instance_ids) (at most 1000 per
    C(TerminateInstances) call, as AWS allows; M(amazon.aws.ec2_instance) makes one call per instance) and deletes
    the launch templates given in O(launch_template_ids).
author:
  - disposable.disco developers (@disposable-disco)
options:
  state:
    description: V(present) starts the nodes of O(launch); V(absent) terminates and deletes what it is given.
    type: str
    choices: [present, absent]
    default: present
  launch:
    description: The groups to start nodes for, as in RV(disposable.disco.disco_ec2_cluster_info#module:plan.launch).
    type: list
    elements: dict
    default: []
    suboptions:
      role:
        description: V(master) or V(slave).
        type: str
        required: true
      group:
        description: The group's name (V(master) for the master).
        type: str
        required: true
      count:
        description: Number of nodes to start.
        type: int
        required: true
      market:
        description: V(spot) or V(on-demand).
        type: str
        choices: [spot, on-demand]
        default: spot
      instance_types:
        description: The instance types the group may use.
        type: list
        elements: str
        required: true
      max_price:
        description: Spot max price in USD per hour per instance; unset means the on-demand price.
        type: str
      tags:
        description: The tags of the group's instances, volumes and launch template.
        type: dict
        required: true
      user_data:
        description: The nodes' user data, as plain text.
        type: str
        required: true
      started:
        description:
          - The cluster's first launch (ISO 8601, UTC), tagged C(disco-started) on the new instances (not on the
            launch template), so the cluster's lifetime counts from it. Empty, no such tag.
        type: str
        default: ""
  image_id:
    description:
      - The AMI every node starts from, or a Debian release (V(debian-13), V(debian-12)) whose newest image of the
        group's architecture (from C(DescribeInstanceTypes)) is taken from O(images). Required with
        O(state=present) and a non-empty O(launch).
    type: str
  images:
    description:
      - The candidate images when O(image_id) names a release, as M(amazon.aws.ec2_ami_info) lists them (Debian's
        account, names C(<release>-*)); each needs C(image_id), C(name), C(architecture) and C(creation_date).
    type: list
    elements: dict
    default: []
  key_name:
    description: Name of the EC2 key pair for the AMI's admin user.
    type: str
  instance_profile:
    description:
      - Name of the IAM instance profile of every node (its role's credentials reach the node through the instance
        metadata service, which the template sets to require IMDSv2). Unset, the nodes have none.
      - EC2 may not know a freshly created profile for some seconds and refuses it as
        C(Invalid IAM Instance Profile name); the fleet call is then repeated for up to
        O(instance_profile_timeout) seconds.
    type: str
  instance_profile_timeout:
    description: Seconds to keep repeating a fleet call that EC2 refuses for an instance profile it does not know yet.
    type: int
    default: 60
  security_groups:
    description:
      - Security groups of the nodes, as C(sg-) ids (AWS takes names only in a default VPC), on the launch
        template's network interface, as M(disposable.disco.disco_ec2_network_info) resolves them.
    type: list
    elements: str
    default: []
  subnet_ids:
    description:
      - Subnets (so zones) the nodes may be started in, all of one VPC. Each is an override of the fleet, so the
        subnet comes from the override and the template's network interface names none. Empty lets EC2 pick in the
        default VPC.
    type: list
    elements: str
    default: []
  public_ip:
    description: Whether the slaves' network interface gets a public IPv4 address (C(AssociatePublicIpAddress)).
    type: bool
    default: true
  master_public_ip:
    description: The same for the master; unset, as O(public_ip).
    type: bool
  spot_fallback:
    description: What happens when no listed type and subnet has spot capacity for the whole group.
    type: str
    choices: [on-demand, fail]
    default: fail
  launch_template_ids:
    description: Launch templates to delete with O(state=absent).
    type: list
    elements: str
    default: []
  terminate_instance_ids:
    description: Instances to terminate with O(state=absent), without waiting.
    type: list
    elements: str
    default: []
  known_launch_templates:
    description:
      - The cluster's launch templates by name (name -> id), as
        RV(disposable.disco.disco_ec2_cluster_info#module:launch_templates) lists them; saves a
        C(DescribeLaunchTemplates) call. Unset, the module looks them up.
    type: dict
attributes:
  check_mode:
    support: full
    description: Reports what it would start; makes no call.
  diff_mode:
    support: none
    description: No diff.
  platform:
    support: full
    platforms: all
    description: Runs where the AWS API is reachable, normally the controller.
notes:
  - AWS ignores (or refuses) spot market options inside a launch template used by EC2 Fleet; the market is the
    fleet's C(TargetCapacitySpecification), so the template holds none.
  - A launch template is named C(<tag_key>-<cluster>-<group>-<hash of its data>) and reused while the group's
    settings stay the same; a change makes a new one. Teardown deletes all of the cluster's templates.
extends_documentation_fragment:
  - disposable.disco.cluster
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Start the missing nodes
  disposable.disco.disco_ec2_fleet:
    cluster_name: "{{ disco_cluster.name }}"
    tag_key: "{{ disco_cluster.tag_key }}"
    launch: "{{ cluster.plan.launch }}"
    image_id: ami-0123456789abcdef0
    security_groups: [sg-0123456789abcdef0]
    subnet_ids: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]
    spot_fallback: on-demand
  register: fleet

- name: Say what each group got
  ansible.builtin.debug:
    msg: "{{ fleet.launch_report }}"
"""

RETURN = r"""
groups:
  description: Per group of O(launch), what was asked and what EC2 started.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: V(master) or V(slave/<group>).
      type: str
    asked:
      description: Nodes asked for.
      type: int
    launched:
      description: Nodes started.
      type: int
    instance_ids:
      description: Ids of the instances started.
      type: list
      elements: str
    got:
      description: The started nodes counted per instance type, subnet, zone and market.
      type: list
      elements: dict
    skipped:
      description: Instance type and subnet pairs EC2 could not use, with its error code and message.
      type: list
      elements: dict
    fallback:
      description: Nodes started on-demand because no spot capacity was found (O(spot_fallback=on-demand)).
      type: int
    shortfall:
      description: Nodes asked for and not started.
      type: int
    launch_template_id:
      description: The group's launch template.
      type: str
    image_id:
      description: The AMI the group's nodes start from.
      type: str
    image_name:
      description: Its name, when chosen by release.
      type: str
    architecture:
      description: The architecture of the group's instance types, when the image was chosen by release.
      type: str
shortfall_total:
  description: The sum of RV(groups[].shortfall).
  returned: always
  type: int
launch_report:
  description: RV(groups) in words, for the run's output.
  returned: always
  type: list
  elements: str
deleted_launch_templates:
  description: The launch templates deleted with O(state=absent).
  returned: always
  type: list
  elements: str
terminated_instances:
  description: The instances terminated with O(state=absent).
  returned: always
  type: list
  elements: str
"""

import contextlib
import time
import uuid
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import (
    CAPACITY_CODES,
    CLUSTER_OPTIONS,
    IDS_PER_CALL,
    ON_DEMAND,
    SPOT,
    architecture_of,
    chunks,
    group_key,
    is_ami_id,
    launch_template_data,
    launch_template_name,
    pick_image,
    tag_list,
)
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2_report import launch_lines
from ansible_collections.disposable.disco.plugins.module_utils.disco_lifetime import TAG_STARTED


def token(run_id: str, *parts: str) -> str:
    """A client token of this run (AWS allows 64 ASCII characters)."""
    return "-".join([run_id, *parts])[:64]


def cluster_templates(client: Any, tag_key: str, cluster_name: str) -> dict[str, str]:
    """The cluster's launch templates, name -> id."""
    filters = [{"Name": f"tag:{tag_key}", "Values": [cluster_name]}]
    paginator = client.get_paginator("describe_launch_templates")
    pages = paginator.paginate(Filters=filters).build_full_result()
    return {t["LaunchTemplateName"]: t["LaunchTemplateId"] for t in pages.get("LaunchTemplates", [])}


def ensure_template(client: Any, name: str, data: dict[str, Any], tags: dict[str, str], run_token: str) -> str:
    """Create the launch template ``name`` (tagged at creation) and return its id."""
    answer = client.create_launch_template(
        aws_retry=True,
        LaunchTemplateName=name,
        LaunchTemplateData=data,
        ClientToken=run_token,
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tag_list(tags)}],
    )
    return answer["LaunchTemplate"]["LaunchTemplateId"]


def overrides(launch: dict[str, Any], subnet_ids: list[str], market: str) -> list[dict[str, Any]]:
    """Every listed instance type in every subnet, in the order given (types first)."""
    out = []
    for instance_type in launch["instance_types"]:
        for subnet_id in subnet_ids or [None]:
            override: dict[str, Any] = {"InstanceType": instance_type}
            if subnet_id:
                override["SubnetId"] = subnet_id
            if market == SPOT and launch.get("max_price"):
                override["MaxPrice"] = launch["max_price"]
            out.append(override)
    return out


def instance_tags(launch: dict[str, Any]) -> dict[str, str]:
    """The group's tags, and the cluster's first launch (``disco-started``) when the plan gives it."""
    return {**launch["tags"], TAG_STARTED: launch["started"]} if launch.get("started") else dict(launch["tags"])


def create_fleet(
    client: Any,
    template_id: str,
    launch: dict[str, Any],
    subnet_ids: list[str],
    count: int,
    market: str,
    run_token: str,
) -> dict[str, Any]:
    """One EC2 Fleet ``instant`` call for ``count`` nodes of one group in one market."""
    request: dict[str, Any] = {
        "Type": "instant",
        "ClientToken": run_token,
        "LaunchTemplateConfigs": [
            {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Latest"},
                "Overrides": overrides(launch, subnet_ids, market),
            }
        ],
        "TargetCapacitySpecification": {"TotalTargetCapacity": count, "DefaultTargetCapacityType": market},
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list(instance_tags(launch))}],
    }
    if market == SPOT:
        request["SpotOptions"] = {"AllocationStrategy": "price-capacity-optimized"}
    else:
        request["OnDemandOptions"] = {"AllocationStrategy": "lowest-price"}
    return client.create_fleet(aws_retry=True, **request)


def _overrides_of(item: dict[str, Any]) -> dict[str, Any]:
    return (item.get("LaunchTemplateAndOverrides") or {}).get("Overrides") or {}


def tally(answer: dict[str, Any], zones: dict[str, str]) -> tuple[list[str], list[dict[str, Any]], list[dict]]:
    """Instance ids, counts per (type, subnet, market) and errors of one CreateFleet answer."""
    ids: list[str] = []
    counts: dict[tuple[str, str, str], int] = {}
    for item in answer.get("Instances") or []:
        override = _overrides_of(item)
        key = (
            item.get("InstanceType") or override.get("InstanceType", ""),
            override.get("SubnetId", ""),
            item["Lifecycle"],
        )
        counts[key] = counts.get(key, 0) + len(item.get("InstanceIds") or [])
        ids.extend(item.get("InstanceIds") or [])
    got = [
        {"instance_type": t, "subnet_id": s, "zone": zones.get(s, ""), "market": m, "count": n}
        for (t, s, m), n in sorted(counts.items())
    ]
    errors = []
    for error in answer.get("Errors") or []:
        override = _overrides_of(error)
        subnet_id = override.get("SubnetId", "")
        errors.append(
            {
                "instance_type": override.get("InstanceType", ""),
                "subnet_id": subnet_id,
                "zone": override.get("AvailabilityZone") or zones.get(subnet_id, ""),
                "market": error.get("Lifecycle") or "",
                "code": error.get("ErrorCode") or "",
                "message": error.get("ErrorMessage") or "",
            }
        )
    return ids, got, errors


def profile_not_known_yet(errors: list[dict[str, Any]]) -> bool:
    """EC2's answer while a new instance profile has not reached it (IAM is eventually consistent)."""
    return any(
        e["code"] == "InvalidParameterValue" and "iaminstanceprofile" in e["message"].lower().replace(" ", "")
        for e in errors
    )


def fleet_call(
    module: AnsibleAWSModule,
    client: Any,
    template_id: str,
    launch: dict[str, Any],
    wanted: int,
    market: str,
    run_id: str,
) -> dict[str, Any]:
    """One fleet call, repeated (with a fresh token) while EC2 does not know the instance profile yet."""
    params = module.params
    deadline = time.monotonic() + (params["instance_profile_timeout"] if params["instance_profile"] else 0)
    attempt, delay = 0, 2.0
    while True:
        parts = [launch["group"], market] + ([str(attempt)] if attempt else [])
        answer = create_fleet(client, template_id, launch, params["subnet_ids"], wanted, market, token(run_id, *parts))
        _ids, _got, errors = tally(answer, {})
        if answer.get("Instances") or not profile_not_known_yet(errors) or time.monotonic() + delay > deadline:
            return answer
        attempt += 1
        time.sleep(delay)
        delay = min(delay * 2, 10.0)


def launch_group(
    module: AnsibleAWSModule, client: Any, launch: dict[str, Any], template_id: str, zones: dict[str, str], run_id: str
) -> dict[str, Any]:
    """Start one group's missing nodes: the configured market first, then on-demand if allowed."""
    params = module.params
    key = group_key(launch["role"], launch["group"])
    result: dict[str, Any] = {
        "key": key,
        "asked": launch["count"],
        "launched": 0,
        "instance_ids": [],
        "got": [],
        "skipped": [],
        "fallback": 0,
        "shortfall": launch["count"],
        "launch_template_id": template_id,
    }
    markets = [launch["market"]]
    if launch["market"] == SPOT and params["spot_fallback"] == ON_DEMAND:
        markets.append(ON_DEMAND)
    for market in markets:
        wanted = result["shortfall"]
        if not wanted:
            break
        answer = fleet_call(module, client, template_id, launch, wanted, market, run_id)
        ids, got, errors = tally(answer, zones)
        fatal = [e for e in errors if e["code"] not in CAPACITY_CODES]
        if fatal and not ids:
            first = fatal[0]
            module.fail_json(
                msg=f"EC2 Fleet refused {key} ({first['instance_type']} {first['subnet_id']}): "
                f"{first['code']} {first['message']}".rstrip(),
                groups=[result],
            )
        result["instance_ids"].extend(ids)
        result["got"].extend(got)
        result["skipped"].extend(errors)
        result["launched"] += len(ids)
        result["shortfall"] = max(0, launch["count"] - result["launched"])
        if market == ON_DEMAND and launch["market"] == SPOT:
            result["fallback"] = len(ids)
    return result


def architectures(client: Any, launches: list[dict[str, Any]]) -> dict[str, str]:
    """Instance type -> architecture, from one DescribeInstanceTypes call."""
    types = sorted({t for launch in launches for t in launch["instance_types"]})
    paginator = client.get_paginator("describe_instance_types")
    found = paginator.paginate(InstanceTypes=types).build_full_result().get("InstanceTypes", [])
    return {entry["InstanceType"]: architecture_of(entry) for entry in found}


def group_image(module: AnsibleAWSModule, launch: dict[str, Any], arches: dict[str, str]) -> dict[str, str]:
    """The image of one group: the given AMI id, or the newest image of the release for the group's architecture."""
    image = module.params["image_id"]
    if is_ami_id(image):
        return {"image_id": image, "image_name": "", "architecture": ""}
    key = group_key(launch["role"], launch["group"])
    unknown = [t for t in launch["instance_types"] if t not in arches]
    if unknown:
        module.fail_json(msg=f"{key}: EC2 does not know the instance type(s) {', '.join(unknown)} in this region")
    wanted = sorted({arches[t] for t in launch["instance_types"]})
    if len(wanted) > 1:
        module.fail_json(
            msg=f"{key}: its instance types mix architectures ({', '.join(wanted)}); one image cannot boot both"
        )
    chosen = pick_image(module.params["images"], image, wanted[0])
    if chosen is None:
        module.fail_json(msg=f"{key}: no available {image} image for {wanted[0]} from Debian's account in this region")
    return {"image_id": chosen["image_id"], "image_name": chosen.get("name", ""), "architecture": wanted[0]}


def subnet_zones(client: Any, subnet_ids: list[str]) -> dict[str, str]:
    if not subnet_ids:
        return {}
    subnets = client.describe_subnets(aws_retry=True, SubnetIds=subnet_ids)["Subnets"]
    return {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}


def present(module: AnsibleAWSModule, client: Any) -> dict[str, Any]:
    params = module.params
    launches = [entry for entry in params["launch"] if entry["count"] > 0]
    if not launches:
        return {"changed": False, "groups": [], "shortfall_total": 0, "launch_report": []}
    if not params["image_id"]:
        module.fail_json(msg="image_id is required to start nodes")
    if module.check_mode:
        return {"changed": True, "groups": [], "shortfall_total": 0, "launch_report": []}
    run_id = uuid.uuid4().hex
    existing = params["known_launch_templates"]
    if existing is None:
        existing = cluster_templates(client, params["tag_key"], params["cluster_name"])
    zones = subnet_zones(client, params["subnet_ids"])
    arches = {} if is_ami_id(params["image_id"]) else architectures(client, launches)
    groups = []
    for launch in launches:
        image = group_image(module, launch, arches)
        public_ip = (
            params["public_ip"]
            if launch["role"] != "master" or params["master_public_ip"] is None
            else (params["master_public_ip"])
        )
        data = launch_template_data(
            launch,
            image["image_id"],
            params["key_name"],
            params["security_groups"],
            public_ip,
            params["instance_profile"],
        )
        name = launch_template_name(params["tag_key"], params["cluster_name"], launch["group"], data)
        template_id = existing.get(name) or ensure_template(
            client, name, data, launch["tags"], token(run_id, "lt", launch["group"])
        )
        groups.append({**launch_group(module, client, launch, template_id, zones, run_id), **image})
    return {
        "changed": True,
        "groups": groups,
        "shortfall_total": sum(group["shortfall"] for group in groups),
        "launch_report": launch_lines(groups),
    }


def terminate(module: AnsibleAWSModule, client: Any) -> list[str]:
    """Terminate the given instances, at most IDS_PER_CALL per call; already gone ones are skipped."""
    ids = sorted(set(module.params["terminate_instance_ids"]))
    if module.check_mode or not ids:
        return ids
    done = []
    for batch in chunks(ids, IDS_PER_CALL):
        answer = client.terminate_instances(aws_retry=True, InstanceIds=batch)
        done.extend(item["InstanceId"] for item in answer.get("TerminatingInstances", []))
    return done


def absent(module: AnsibleAWSModule, client: Any) -> dict[str, Any]:
    terminated = terminate(module, client)
    deleted = []
    for template_id in module.params["launch_template_ids"]:
        if module.check_mode:
            deleted.append(template_id)
            continue
        try:
            client.delete_launch_template(aws_retry=True, LaunchTemplateId=template_id)
            deleted.append(template_id)
        except is_boto3_error_code(["InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateId.Malformed"]):
            continue
    return {
        "changed": bool(deleted or terminated),
        "deleted_launch_templates": deleted,
        "terminated_instances": terminated,
    }


def main() -> None:
    launch_options = {
        "role": {"type": "str", "required": True},
        "group": {"type": "str", "required": True},
        "count": {"type": "int", "required": True},
        "market": {"type": "str", "choices": ["spot", "on-demand"], "default": "spot"},
        "instance_types": {"type": "list", "elements": "str", "required": True},
        "max_price": {"type": "str"},
        "tags": {"type": "dict", "required": True},
        "user_data": {"type": "str", "required": True},
        "started": {"type": "str", "default": ""},
    }
    argument_spec = {
        **CLUSTER_OPTIONS,
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "launch": {"type": "list", "elements": "dict", "default": [], "options": launch_options},
        "image_id": {"type": "str"},
        "images": {"type": "list", "elements": "dict", "default": []},
        "key_name": {"type": "str", "no_log": False},
        "security_groups": {"type": "list", "elements": "str", "default": []},
        "instance_profile": {"type": "str"},
        "instance_profile_timeout": {"type": "int", "default": 60},
        "subnet_ids": {"type": "list", "elements": "str", "default": []},
        "public_ip": {"type": "bool", "default": True},
        "master_public_ip": {"type": "bool"},
        "spot_fallback": {"type": "str", "choices": ["on-demand", "fail"], "default": "fail"},
        "launch_template_ids": {"type": "list", "elements": "str", "default": []},
        "terminate_instance_ids": {"type": "list", "elements": "str", "default": []},
        "known_launch_templates": {"type": "dict"},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(retries=5))
    result = {
        "groups": [],
        "shortfall_total": 0,
        "launch_report": [],
        "deleted_launch_templates": [],
        "terminated_instances": [],
    }
    try:
        result.update(present(module, client) if module.params["state"] == "present" else absent(module, client))
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="EC2 call failed")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
