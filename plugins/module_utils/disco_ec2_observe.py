# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Observe a disposable.disco cluster: EC2's raw answers turned into its nodes, requests and launch templates.

Pure functions. :func:`observe` takes what ``DescribeInstances``, ``DescribeSpotInstanceRequests`` (requests of
versions before 0.2) and ``DescribeLaunchTemplates`` answered; :func:`summarise` says which nodes run, with the
inventory variables of each.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import (
    ALIVE_STATES,
    GONE_STATES,
    MASTER,
    MASTER_GROUP,
    SLAVE,
    TAG_GROUP,
    TAG_ROLE,
    iso,
    tag_dict,
)
from ansible_collections.disposable.disco.plugins.module_utils.disco_lifetime import TAG_STARTED


def instance_record(instance: dict[str, Any], tag_key: str, cluster_name: str) -> dict[str, Any]:
    """One instance as the plan and the report see it."""
    tags = tag_dict(instance.get("Tags"))
    role = tags.get(TAG_ROLE) if tags.get(tag_key) == cluster_name else None
    return {
        "instance_id": instance["InstanceId"],
        "role": role,
        "group": tags.get(TAG_GROUP) if role else None,
        "state": (instance.get("State") or {}).get("Name", "unknown"),
        "instance_type": instance.get("InstanceType", ""),
        "private_ip_address": instance.get("PrivateIpAddress") or "",
        "public_ip_address": instance.get("PublicIpAddress") or "",
        "private_dns_name": instance.get("PrivateDnsName") or "",
        "public_dns_name": instance.get("PublicDnsName") or "",
        "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone", ""),
        "subnet_id": instance.get("SubnetId") or "",
        "launch_time": iso(instance.get("LaunchTime")),
        "lifecycle": instance.get("InstanceLifecycle") or "on-demand",
        "request_id": instance.get("SpotInstanceRequestId") or "",
        "state_reason": (instance.get("StateReason") or {}).get("Message", ""),
        "tags": tags,
    }


def request_record(raw: dict[str, Any], tag_key: str, cluster_name: str) -> dict[str, Any] | None:
    """One spot request of the cluster (made by a version before 0.2), or None when it is not the cluster's."""
    tags = tag_dict(raw.get("Tags"))
    if tags.get(tag_key) != cluster_name:
        return None
    role = tags.get(TAG_ROLE) or SLAVE
    status = raw.get("Status") or {}
    instance_id = raw.get("InstanceId") or ""
    if instance_id and raw.get("State") == "open":
        instance_id = ""  # an open request has no instance (moto keeps the id of a terminated one)
    return {
        "request_id": raw["SpotInstanceRequestId"],
        "role": role,
        "group": MASTER_GROUP if role == MASTER else tags.get(TAG_GROUP, "default"),
        "state": raw.get("State", "unknown"),
        "status_code": status.get("Code") or "",
        "status_message": status.get("Message") or "",
        "instance_id": instance_id,
        "instance_state": "",
        "instance_type": (raw.get("LaunchSpecification") or {}).get("InstanceType", ""),
        "spot_price": raw.get("SpotPrice") or "",
        "create_time": iso(raw.get("CreateTime")),
    }


def template_record(raw: dict[str, Any], tag_key: str, cluster_name: str) -> dict[str, Any] | None:
    """One launch template of the cluster, or None when it is not the cluster's."""
    tags = tag_dict(raw.get("Tags"))
    if tags.get(tag_key) != cluster_name:
        return None
    return {
        "launch_template_id": raw["LaunchTemplateId"],
        "launch_template_name": raw.get("LaunchTemplateName", ""),
        "role": tags.get(TAG_ROLE) or "",
        "group": tags.get(TAG_GROUP) or "",
    }


def observe(
    tag_key: str,
    cluster_name: str,
    requests: list[dict[str, Any]],
    instances: list[dict[str, Any]],
    templates: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The cluster as EC2 describes it: instance, request and launch template records keyed by id.

    ``instances`` are the cluster's tagged instances plus the ones its legacy requests launched (which older
    versions tagged only after the wait). An instance's role and group come from its own tags, else from its
    request's.
    """
    by_instance = {
        record["instance_id"]: record for record in (instance_record(raw, tag_key, cluster_name) for raw in instances)
    }
    by_request: dict[str, dict[str, Any]] = {}
    for raw in requests:
        record = request_record(raw, tag_key, cluster_name)
        if record is None:
            continue
        by_request[record["request_id"]] = record
        instance = by_instance.get(record["instance_id"])
        if instance is not None:
            record["instance_state"] = instance["state"]
            instance["request_id"] = record["request_id"]
            instance["lifecycle"] = "spot"
            if not instance["role"]:
                instance["role"], instance["group"] = record["role"], record["group"]
        elif record["instance_id"]:
            record["instance_state"] = "gone"
    by_template = {}
    for raw in templates or []:
        record = template_record(raw, tag_key, cluster_name)
        if record is not None:
            by_template[record["launch_template_id"]] = record
    return {"instances": by_instance, "requests": by_request, "templates": by_template}


def newest_first(records: list[dict[str, Any]], time_key: str, id_key: str) -> list[dict[str, Any]]:
    """Records sorted newest first (ties broken by id, so the order is stable)."""
    return sorted(records, key=lambda record: (record.get(time_key) or "", record[id_key]), reverse=True)


def address(node: dict[str, Any], ssh_address: str) -> str:
    """The address Ansible uses for a node."""
    if ssh_address == "private":
        return node["private_ip_address"] or node["public_ip_address"]
    return node["public_ip_address"] or node["private_ip_address"]


def alive_nodes(observed: dict[str, Any]) -> list[dict[str, Any]]:
    """The cluster's pending and running nodes (with a role)."""
    return [node for node in observed["instances"].values() if node["role"] and node["state"] in ALIVE_STATES]


def node_hostvars(
    node: dict[str, Any],
    master: dict[str, Any] | None,
    cluster_name: str,
    ssh: dict[str, Any],
    multipliers: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The inventory variables of one node, the same the ``inventory/aws_ec2.yml`` file composes.

    ``multipliers`` (group key -> Disco workers per vCPU, from the plan's groups) adds ``disco_multiplier``.
    """
    ssh_user, ssh_address = ssh.get("ssh_user", "admin"), ssh.get("ssh_address", "auto")
    jump_host = ssh.get("ssh_jump_host") or ""
    via_master = not jump_host and ssh.get("ssh_via_master", False) and node["role"] == SLAVE and master is not None
    hostvars = {
        "ansible_host": node["private_ip_address"] if via_master or jump_host else address(node, ssh_address),
        "ansible_user": ssh_user,
        "disco_cluster_name": cluster_name,
        "disco_role": node["role"],
        "disco_group": node["group"],
        "instance_id": node["instance_id"],
        "instance_type": node["instance_type"],
        "private_ip_address": node["private_ip_address"],
        "public_ip_address": node["public_ip_address"],
        "private_dns_name": node["private_dns_name"],
        "public_dns_name": node["public_dns_name"],
    }
    if (node.get("tags") or {}).get(TAG_STARTED):  # the cluster's first launch: the master's lifetime counts from it
        hostvars["disco_started"] = node["tags"][TAG_STARTED]
    key = MASTER if node["role"] == MASTER else f"{SLAVE}/{node['group']}"
    if multipliers and multipliers.get(key) is not None:
        hostvars["disco_multiplier"] = multipliers[key]
    jump = (ssh_user, address(master, ssh_address), master["instance_id"]) if via_master and master else None
    common_args = ssh_common_args(node["instance_id"], ssh.get("known_hosts", ""), jump)
    if jump_host:  # a bastion: every node at its private address through it (its own key: the user's known_hosts)
        common_args = f"{common_args} -o ProxyJump={jump_host}".strip()
    if common_args:
        hostvars["ansible_ssh_common_args"] = common_args
    return hostvars


def host_key_args(alias: str, known_hosts: str) -> str:
    """ssh options that know a node's host key by its instance id, in the cluster's own known_hosts file.

    The key is accepted on first sight (``accept-new``); a changed key of the same instance is refused by ssh.
    A new instance at a reused address has another id, so it is a new host, never a mismatch.
    """
    return (
        f"-o HostKeyAlias={alias} -o StrictHostKeyChecking=accept-new -o HashKnownHosts=no"
        f" -o UserKnownHostsFile={known_hosts}"
    )


def ssh_common_args(instance_id: str, known_hosts: str, jump: tuple[Any, ...] | None = None) -> str:
    """``ansible_ssh_common_args`` of a node: host key options, and the hop through ``jump``.

    ``jump`` is (user, address, instance id) of the jump host, with its port as a fourth item when not 22.

    Without ``known_hosts`` (the user's own known_hosts then) a jump is a plain ProxyJump. With it, the jump is a
    ProxyCommand, since ssh does not pass command-line options to the ssh that ProxyJump starts: the jump host's
    key is known by its own instance id in the same file. Another jump host (a bastion) would be added here.
    """
    if not known_hosts:
        return f"-o ProxyJump={jump[0]}@{jump[1]}" if jump else ""
    args = host_key_args(instance_id, known_hosts)
    if jump:
        user, jump_address, jump_id = jump[:3]
        port = f"-p {jump[3]} " if len(jump) > 3 and jump[3] else ""
        hop = f"ssh {host_key_args(jump_id, known_hosts)} -o BatchMode=yes {port}-W %h:%p {user}@{jump_address}"
        args += f' -o ProxyCommand="{hop}"'
    return args


def summarise(
    cluster_name: str,
    observed: dict[str, Any],
    ssh: dict[str, Any] | None = None,
    multipliers: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Nodes (alive, master first), other instances, open/failed requests, the master, hostvars and tunnel hints."""
    ssh = ssh or {}
    instances: dict[str, dict[str, Any]] = observed["instances"]
    requests: dict[str, dict[str, Any]] = observed["requests"]
    nodes = sorted(
        alive_nodes(observed),
        key=lambda n: (n["role"] != MASTER, n["group"] or "", n["launch_time"], n["instance_id"]),
    )
    masters = [node for node in nodes if node["role"] == MASTER]
    master = masters[0] if masters else None
    for node in nodes:
        node["address"] = address(node, ssh.get("ssh_address", "auto"))
        node["hostvars"] = node_hostvars(node, master, cluster_name, ssh, multipliers)
    others = sorted(
        (n for n in instances.values() if n["state"] not in ALIVE_STATES | GONE_STATES),
        key=lambda n: n["instance_id"],
    )
    open_requests = sorted((r for r in requests.values() if r["state"] == "open"), key=lambda r: r["request_id"])
    failed = sorted(
        (
            r
            for r in requests.values()
            if r["state"] == "failed"
            or (r["state"] == "closed" and r["status_code"] not in ("instance-terminated-by-user", ""))
        ),
        key=lambda r: r["request_id"],
    )
    ssh_user = ssh.get("ssh_user", "admin")
    summary: dict[str, Any] = {
        "nodes": nodes,
        "other_instances": others,
        "open_requests": open_requests,
        "failed_requests": failed,
        "pending_instances": [n["instance_id"] for n in nodes if n["state"] == "pending"],
        "launch_templates": sorted(observed.get("templates", {}).values(), key=lambda t: t["launch_template_name"]),
        "master": master,
        "tunnel_command": "",
        "proxy_export": "",
    }
    if master is not None:
        jump = f"-J {ssh['ssh_jump_host']} " if ssh.get("ssh_jump_host") else ""
        where = master["private_ip_address"] if jump else master["address"]
        summary["tunnel_command"] = f"ssh {jump}-N -L 8989:127.0.0.1:8999 {ssh_user}@{where}"
        summary["proxy_export"] = "export DISCO_PROXY=http://localhost:8989 DISCO_MASTER=http://localhost:8989"
    return summary
