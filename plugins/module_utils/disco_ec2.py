# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EC2 side of a disposable.disco cluster: how its resources are tagged and how to converge them.

Pure functions, no AWS call: :func:`observe` turns the raw ``DescribeSpotInstanceRequests`` and
``DescribeInstances`` answers into the cluster's nodes and requests, :func:`make_plan` compares them with the
configuration and says what to request, cancel, terminate and tag. The modules ``disco_ec2_cluster_info`` and
``ec2_tags_bulk`` make the calls; the role ``disco_ec2`` applies the plan with ``amazon.aws`` modules.

The state lives only in EC2 tags: every request and instance of a cluster carries ``<tag_key>=<cluster name>``,
``disco-role`` (master or slave) and ``disco-group`` (the slave group; ``master`` for the master). Instances
launched from spot requests carry no tags at first: they are found through their request and tagged.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

TAG_ROLE = "disco-role"
TAG_GROUP = "disco-group"
TAG_NAME = "Name"
# On slaves: the address Ansible uses to reach the master, for SSH ProxyJump from the aws_ec2 inventory.
TAG_JUMP = "disco-jump-host"
# On security groups this project created (and so may delete).
TAG_CREATED_BY = "disco-created-by"
CREATED_BY = "disposable.disco"

MASTER = "master"
SLAVE = "slave"
MASTER_GROUP = "master"

ALIVE_STATES = frozenset({"pending", "running"})
GONE_STATES = frozenset({"terminated"})
# Open requests with these status codes are on their way; other codes of an open request mean it is held
# (price-too-low, capacity-not-available, ...): such a request found at the start of a run is replaced.
PENDING_CODES = frozenset({"", "pending-evaluation", "pending-fulfillment", "not-scheduled-yet"})
LIVE_REQUEST_STATES = frozenset({"open", "active"})
# Filter values per call (AWS caps the values of one filter).
FILTER_CHUNK = 200


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """Split a list into lists of at most ``size`` items."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """boto3's ``[{Key, Value}]`` as a plain dict."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def _iso(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _same_price(wanted: str | None, actual: str | None) -> bool:
    if wanted is None:
        return True  # AWS caps it at the on-demand price, whatever it answers
    try:
        return abs(float(wanted) - float(actual or "nan")) < 1e-9
    except ValueError:
        return False


def group_key(role: str, group: str) -> str:
    """One string per node group: ``master`` or ``slave/<group>``."""
    return MASTER if role == MASTER else f"{SLAVE}/{group}"


def node_name(cluster_name: str, role: str, group: str) -> str:
    """The ``Name`` tag: what the EC2 console shows."""
    return f"{cluster_name}-master" if role == MASTER else f"{cluster_name}-{group}"


def base_tags(tag_key: str, cluster_name: str, role: str, group: str) -> dict[str, str]:
    """The tags every request and instance of a node group carries."""
    return {
        tag_key: cluster_name,
        TAG_ROLE: role,
        TAG_GROUP: MASTER_GROUP if role == MASTER else group,
        TAG_NAME: node_name(cluster_name, role, group),
    }


def user_data(cluster_name: str, role: str, group: str) -> str:
    """The nodes' user data (plain text): a cloud-config naming the node's cluster, role and group; no secret."""
    return (
        "#cloud-config\n"
        "# disposable.disco node; Ansible configures the rest over SSH.\n"
        "write_files:\n"
        "  - path: /etc/disposable-disco/node\n"
        "    permissions: '0644'\n"
        "    content: |\n"
        f"      cluster={cluster_name}\n"
        f"      role={role}\n"
        f"      group={MASTER_GROUP if role == MASTER else group}\n"
    )


def user_data_b64(cluster_name: str, role: str, group: str) -> str:
    """:func:`user_data` base64-encoded, as RequestSpotInstances wants it."""
    return base64.b64encode(user_data(cluster_name, role, group).encode()).decode()


def client_token(tag_key: str, cluster_name: str, spec: dict[str, Any], count: int, known: list[str]) -> str:
    """A deterministic ClientToken for one RequestSpotInstances call.

    It depends on the cluster, the group's launch settings, the number asked and the ids of the group's requests
    and instances already known, so a retried call with the same view of the cluster is not sent twice, while a
    later replacement (a different view) is a new request.
    """
    text = "|".join(
        [
            CREATED_BY,
            tag_key,
            cluster_name,
            spec["role"],
            spec["group"],
            spec.get("instance_type") or "",
            spec.get("max_price") or "",
            str(count),
            ",".join(sorted(known)),
        ]
    )
    return "disco-" + hashlib.sha256(text.encode()).hexdigest()[:58]


def desired_groups(master: dict[str, Any] | None, slave_groups: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The node groups the configuration asks for, master first."""
    groups = []
    if master is not None:
        groups.append(
            {
                "role": MASTER,
                "group": MASTER_GROUP,
                "count": 1,
                "instance_type": master.get("instance_type"),
                "max_price": master.get("max_price"),
                "market": master.get("market") or "spot",
            }
        )
    for group in slave_groups or []:
        groups.append(
            {
                "role": SLAVE,
                "group": group["name"],
                "count": int(group.get("count") or 0),
                "instance_type": group.get("instance_type"),
                "max_price": group.get("max_price"),
                "market": "spot",
            }
        )
    return groups


def _instance_record(instance: dict[str, Any], tag_key: str, cluster_name: str) -> dict[str, Any]:
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
        "launch_time": _iso(instance.get("LaunchTime")),
        "lifecycle": instance.get("InstanceLifecycle") or "on-demand",
        "request_id": instance.get("SpotInstanceRequestId") or "",
        "state_reason": (instance.get("StateReason") or {}).get("Message", ""),
        "tags": tags,
    }


def observe(
    tag_key: str, cluster_name: str, requests: list[dict[str, Any]], instances: list[dict[str, Any]]
) -> dict[str, Any]:
    """The cluster as EC2 describes it: instance and request records keyed by id, roles and groups resolved.

    ``requests`` are the cluster's spot requests (found by tag), ``instances`` the cluster's tagged instances
    plus the instances its requests launched (untagged until tagged). An instance's role and group come from its
    own tags, else from its request's tags.
    """
    by_instance: dict[str, dict[str, Any]] = {}
    for raw in instances:
        record = _instance_record(raw, tag_key, cluster_name)
        by_instance[record["instance_id"]] = record
    by_request: dict[str, dict[str, Any]] = {}
    for raw in requests:
        tags = tag_dict(raw.get("Tags"))
        if tags.get(tag_key) != cluster_name:
            continue
        role = tags.get(TAG_ROLE) or SLAVE
        spec = raw.get("LaunchSpecification") or {}
        status = raw.get("Status") or {}
        instance_id = raw.get("InstanceId") or ""
        if instance_id and raw.get("State") == "open":
            instance_id = ""  # an open request has no instance (moto keeps the id of a terminated one)
        record = {
            "request_id": raw["SpotInstanceRequestId"],
            "role": role,
            "group": MASTER_GROUP if role == MASTER else tags.get(TAG_GROUP, "default"),
            "state": raw.get("State", "unknown"),
            "status_code": status.get("Code") or "",
            "status_message": status.get("Message") or "",
            "instance_id": instance_id,
            "instance_state": "",
            "instance_type": spec.get("InstanceType", ""),
            "spot_price": raw.get("SpotPrice") or "",
            "create_time": _iso(raw.get("CreateTime")),
        }
        by_request[record["request_id"]] = record
        instance = by_instance.get(instance_id)
        if instance is not None:
            record["instance_state"] = instance["state"]
            instance["request_id"] = record["request_id"]
            instance["lifecycle"] = "spot"
            if not instance["role"]:
                instance["role"], instance["group"] = record["role"], record["group"]
        elif instance_id:
            record["instance_state"] = "gone"
    return {"instances": by_instance, "requests": by_request}


def _newest_first(records: list[dict[str, Any]], time_key: str, id_key: str) -> list[dict[str, Any]]:
    return sorted(records, key=lambda record: (record.get(time_key) or "", record[id_key]), reverse=True)


def _address(node: dict[str, Any], ssh_address: str) -> str:
    if ssh_address == "private":
        return node["private_ip_address"] or node["public_ip_address"]
    return node["public_ip_address"] or node["private_ip_address"]


def make_plan(
    tag_key: str,
    cluster_name: str,
    observed: dict[str, Any],
    groups: list[dict[str, Any]] | None,
    absent: bool = False,
    ssh_address: str = "auto",
    ssh_via_master: bool = False,
) -> dict[str, Any]:
    """What to do so that EC2 matches the configuration (``groups``), or holds nothing of the cluster (``absent``).

    Returns ``request`` (one entry per group short of nodes: count, client token, tags, user data), ``cancel``
    (open requests to cancel: held ones, excess ones), ``terminate_requests`` (requests to cancel whose instance
    is terminated with them), ``terminate_instances`` (instances without a live request to terminate), ``tag``
    (``{resource_ids, tags}`` for instances missing their tags), and ``changes``, the number of actions.
    Excess nodes are the newest ones; held or excess open requests go before running instances.
    """
    instances: dict[str, dict[str, Any]] = observed["instances"]
    requests: dict[str, dict[str, Any]] = observed["requests"]
    wanted = {group_key(g["role"], g["group"]): g for g in groups or []} if not absent else {}
    plan: dict[str, Any] = {
        "request": [],
        "cancel": [],
        "terminate_requests": [],
        "terminate_instances": [],
        "tag": [],
    }
    if groups is None and not absent:
        plan["changes"] = 0
        return plan

    alive: dict[str, list[dict[str, Any]]] = {}
    for node in instances.values():
        if node["role"] and node["state"] in ALIVE_STATES:
            alive.setdefault(group_key(node["role"], node["group"]), []).append(node)
    inflight: dict[str, list[dict[str, Any]]] = {}
    doomed_requests: set[str] = set()
    for request in requests.values():
        key = group_key(request["role"], request["group"])
        spec = wanted.get(key)
        if request["state"] != "open":
            continue
        held = request["status_code"] not in PENDING_CODES
        changed = spec is not None and (
            (spec.get("instance_type") and request["instance_type"] != spec["instance_type"])
            or not _same_price(spec.get("max_price"), request["spot_price"])
        )
        if spec is None or held or changed or spec["market"] != "spot":
            plan["cancel"].append(request["request_id"])
            doomed_requests.add(request["request_id"])
        else:
            inflight.setdefault(key, []).append(request)

    doomed_instances: list[dict[str, Any]] = []
    for key in sorted(set(alive) | set(inflight) | set(wanted)):
        spec = wanted.get(key)
        count = spec["count"] if spec else 0
        nodes, pending = alive.get(key, []), inflight.get(key, [])
        have = len(nodes) + len(pending)
        if have < count and spec is not None:
            known = [n["instance_id"] for n in nodes] + [r["request_id"] for r in pending]
            missing = count - have
            plan["request"].append(
                {
                    "role": spec["role"],
                    "group": spec["group"],
                    "count": missing,
                    "market": spec["market"],
                    "instance_type": spec["instance_type"],
                    "max_price": spec.get("max_price"),
                    "client_token": client_token(tag_key, cluster_name, spec, missing, known),
                    "tags": base_tags(tag_key, cluster_name, spec["role"], spec["group"]),
                    "user_data": user_data(cluster_name, spec["role"], spec["group"]),
                    "user_data_b64": user_data_b64(cluster_name, spec["role"], spec["group"]),
                }
            )
        elif have > count:
            excess = have - count
            for request in _newest_first(pending, "create_time", "request_id")[:excess]:
                plan["cancel"].append(request["request_id"])
                doomed_requests.add(request["request_id"])
            excess -= min(excess, len(pending))
            doomed_instances.extend(_newest_first(nodes, "launch_time", "instance_id")[:excess])

    if absent:
        for request in requests.values():
            if request["state"] in LIVE_REQUEST_STATES and request["request_id"] not in doomed_requests:
                instance = instances.get(request["instance_id"])
                if instance is None or instance["state"] in GONE_STATES:
                    plan["cancel"].append(request["request_id"])
                    doomed_requests.add(request["request_id"])
        doomed_instances = [node for node in instances.values() if node["state"] not in GONE_STATES]

    for node in _newest_first(doomed_instances, "launch_time", "instance_id"):
        request = requests.get(node["request_id"])
        if request is not None and request["state"] == "active" and request["request_id"] not in doomed_requests:
            plan["terminate_requests"].append(request["request_id"])
            doomed_requests.add(request["request_id"])
        else:
            plan["terminate_instances"].append(node["instance_id"])

    if not absent:
        plan["tag"] = _tag_plan(tag_key, cluster_name, instances, doomed_instances, ssh_address, ssh_via_master)
    plan["cancel"] = sorted(plan["cancel"])
    plan["changes"] = (
        len(plan["request"])
        + (1 if plan["cancel"] else 0)
        + (1 if plan["terminate_requests"] else 0)
        + (1 if plan["terminate_instances"] else 0)
        + len(plan["tag"])
    )
    return plan


def _tag_plan(
    tag_key: str,
    cluster_name: str,
    instances: dict[str, dict[str, Any]],
    doomed: list[dict[str, Any]],
    ssh_address: str,
    ssh_via_master: bool,
) -> list[dict[str, Any]]:
    """Group the live instances that lack (some of) their tags by the tags they need."""
    doomed_ids = {node["instance_id"] for node in doomed}
    live = [
        node
        for node in instances.values()
        if node["role"] and node["state"] in ALIVE_STATES and node["instance_id"] not in doomed_ids
    ]
    masters = _newest_first([node for node in live if node["role"] == MASTER], "launch_time", "instance_id")
    jump = _address(masters[-1], ssh_address) if masters and ssh_via_master else ""
    needs: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for node in sorted(live, key=lambda n: n["instance_id"]):
        wanted = base_tags(tag_key, cluster_name, node["role"], node["group"])
        if node["role"] == SLAVE and jump:
            wanted[TAG_JUMP] = jump
        missing = {key: value for key, value in wanted.items() if node["tags"].get(key) != value}
        if missing:
            needs.setdefault(tuple(sorted(missing.items())), []).append(node["instance_id"])
    return [{"resource_ids": ids, "tags": dict(tags)} for tags, ids in sorted(needs.items(), key=lambda kv: kv[1])]


def node_hostvars(
    node: dict[str, Any],
    master: dict[str, Any] | None,
    cluster_name: str,
    ssh_user: str,
    ssh_address: str,
    ssh_via_master: bool,
) -> dict[str, Any]:
    """The inventory variables of one node, the same the ``inventory/aws_ec2.yml`` file composes."""
    via_master = ssh_via_master and node["role"] == SLAVE and master is not None
    hostvars = {
        "ansible_host": node["private_ip_address"] if via_master else _address(node, ssh_address),
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
    if via_master and master is not None:
        hostvars["ansible_ssh_common_args"] = f"-o ProxyJump={ssh_user}@{_address(master, ssh_address)}"
    return hostvars


def summarise(
    cluster_name: str,
    observed: dict[str, Any],
    ssh_user: str = "admin",
    ssh_address: str = "auto",
    ssh_via_master: bool = False,
) -> dict[str, Any]:
    """Nodes (alive, master first), other instances, open/failed requests, the master, hostvars and tunnel hints."""
    instances: dict[str, dict[str, Any]] = observed["instances"]
    requests: dict[str, dict[str, Any]] = observed["requests"]
    nodes = sorted(
        (node for node in instances.values() if node["role"] and node["state"] in ALIVE_STATES),
        key=lambda n: (n["role"] != MASTER, n["group"] or "", n["launch_time"], n["instance_id"]),
    )
    masters = [node for node in nodes if node["role"] == MASTER]
    master = masters[0] if masters else None
    for node in nodes:
        node["address"] = _address(node, ssh_address)
        node["hostvars"] = node_hostvars(node, master, cluster_name, ssh_user, ssh_address, ssh_via_master)
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
    summary: dict[str, Any] = {
        "nodes": nodes,
        "other_instances": others,
        "open_requests": open_requests,
        "failed_requests": failed,
        "pending_instances": [n["instance_id"] for n in nodes if n["state"] == "pending"],
        "master": master,
        "tunnel_command": "",
        "proxy_export": "",
    }
    if master is not None:
        summary["tunnel_command"] = f"ssh -N -L 8989:localhost:8989 {ssh_user}@{master['address']}"
        summary["proxy_export"] = "export DISCO_PROXY=http://localhost:8989"
    return summary


def problem_lines(summary: dict[str, Any], missing: dict[str, int]) -> list[str]:
    """Why the cluster is not complete: open requests (with AWS's status code), pending instances, failed requests."""
    lines = []
    for request in summary["open_requests"]:
        lines.append(
            f"  request {request['request_id']} ({group_key(request['role'], request['group'])}) still open: "
            f"{request['status_code'] or 'no status yet'} {request['status_message']}".rstrip()
        )
    for node in summary["nodes"]:
        if node["state"] == "pending":
            lines.append(f"  instance {node['instance_id']} ({group_key(node['role'], node['group'])}) still pending")
    for request in summary["failed_requests"]:
        lines.append(
            f"  request {request['request_id']} ({group_key(request['role'], request['group'])}) "
            f"{request['state']}: {request['status_code']} {request['status_message']}".rstrip()
        )
    for key, count in sorted(missing.items()):
        if count:
            lines.append(f"  {key}: {count} node(s) missing")
    return lines


def report_lines(cluster_name: str, summary: dict[str, Any], plan: dict[str, Any] | None = None) -> list[str]:
    """A human-readable status: one line per node and per open or failed request, then the SSH tunnel."""
    nodes = summary["nodes"]
    lines = [f"Cluster {cluster_name}: {len(nodes)} node(s)"]
    for node in nodes:
        role = "master" if node["role"] == MASTER else f"slave/{node['group']}"
        lines.append(
            f"  {role:<16} {node['instance_id']:<20} {node['instance_type']:<12} {node['state']:<8} "
            f"{node['address'] or '-'}"
        )
    for node in summary["other_instances"]:
        lines.append(f"  (not running)    {node['instance_id']:<20} {node['instance_type']:<12} {node['state']}")
    for request in summary["open_requests"]:
        lines.append(
            f"  pending request  {request['request_id']:<20} {request['role']}/{request['group']}: "
            f"{request['status_code'] or 'open'} {request['status_message']}".rstrip()
        )
    for request in summary["failed_requests"]:
        lines.append(
            f"  failed request   {request['request_id']:<20} {request['role']}/{request['group']}: "
            f"{request['state']}/{request['status_code']} {request['status_message']}".rstrip()
        )
    if plan:
        lines.extend(plan_lines(plan))
    if summary["master"] is not None:
        lines.append(f"SSH tunnel to Disco's web UI: {summary['tunnel_command']}")
        lines.append(f"then: {summary['proxy_export']}")
    else:
        lines.append("No running master.")
    return lines


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """The plan in words: what a run requests, cancels, terminates and tags."""
    lines = []
    for request in plan["request"]:
        market = "on-demand instance" if request["market"] == "on-demand" else "spot request"
        price = f", max price {request['max_price']}" if request.get("max_price") else ""
        lines.append(
            f"  request {request['count']} x {request['instance_type']} {market}(s) for "
            f"{group_key(request['role'], request['group'])}{price}"
        )
    if plan["cancel"]:
        lines.append(f"  cancel {len(plan['cancel'])} request(s): {', '.join(plan['cancel'])}")
    if plan["terminate_requests"]:
        lines.append(
            f"  cancel {len(plan['terminate_requests'])} request(s) and terminate their instances: "
            + ", ".join(plan["terminate_requests"])
        )
    if plan["terminate_instances"]:
        lines.append(
            f"  terminate {len(plan['terminate_instances'])} instance(s): {', '.join(plan['terminate_instances'])}"
        )
    for tagging in plan["tag"]:
        lines.append(f"  tag {len(tagging['resource_ids'])} instance(s) with {tagging['tags']}")
    return lines
