# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan a disposable.disco cluster: per group what is missing, and what goes.

Pure functions. :func:`make_plan` compares what :func:`disco_ec2_observe.observe` saw with the configuration's
groups (:func:`disco_ec2.desired_groups`) and returns:

- ``missing``: group key -> nodes short of the configuration;
- ``launch``: one entry per group short of nodes (count, market, instance types in order, max price, tags,
  user data, the cluster's first launch for the ``disco-started`` tag), which ``disco_ec2_fleet`` turns into
  one launch template and one EC2 Fleet ``instant`` call;
- ``cancel``: open spot requests (only versions before 0.2 made them; none may stay open);
- ``terminate_requests``: active legacy requests to cancel together with their (excess) instance;
- ``terminate_instances``: excess instances (newest first), or all of them for ``absent``;
- ``delete_templates``: the cluster's launch templates, for ``absent``;
- ``tag``: ``{resource_ids, tags}`` for live instances missing some tags (the jump host of ``ssh_via_master``,
  and instances of legacy requests, untagged at birth);
- ``changes``: the number of actions.

No client token is planned: a token derived from the cluster's state repeats after a teardown and AWS would
answer the new launch with the old (terminated) result. ``disco_ec2_fleet`` draws a fresh one per run and call.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import (
    GONE_STATES,
    LIVE_REQUEST_STATES,
    MASTER,
    SLAVE,
    TAG_JUMP,
    TAG_JUMP_ID,
    base_tags,
    group_key,
    user_data,
)
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2_observe import (
    address,
    alive_nodes,
    newest_first,
)


def empty_plan() -> dict[str, Any]:
    return {
        "missing": {},
        "launch": [],
        "cancel": [],
        "terminate_requests": [],
        "terminate_instances": [],
        "delete_templates": [],
        "tag": [],
        "changes": 0,
    }


def _by_group(nodes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        grouped.setdefault(group_key(node["role"], node["group"]), []).append(node)
    return grouped


def launch_entry(
    tag_key: str,
    cluster_name: str,
    spec: dict[str, Any],
    missing: int,
    admin_keys: tuple[str, ...] = (),
    started: str = "",
) -> dict[str, Any]:
    """What ``disco_ec2_fleet`` needs to start ``missing`` nodes of one group.

    ``started`` (the cluster's first launch) is tagged on the new instances only, not on the launch template,
    whose data stays the same from one launch to the next.
    """
    return {
        "role": spec["role"],
        "group": spec["group"],
        "count": missing,
        "market": spec["market"],
        "instance_types": list(spec["instance_types"]),
        "max_price": spec.get("max_price"),
        "tags": base_tags(tag_key, cluster_name, spec["role"], spec["group"]),
        "user_data": user_data(cluster_name, spec["role"], spec["group"], admin_keys),
        "started": started,
    }


def group_changes(
    tag_key: str,
    cluster_name: str,
    wanted: dict[str, dict[str, Any]],
    alive: dict[str, list[dict[str, Any]]],
    admin_keys: tuple[str, ...] = (),
    started: str = "",
) -> tuple[dict[str, int], list[dict[str, Any]], list[dict[str, Any]]]:
    """Per group: nodes missing (and their launch entries), and the excess nodes, newest first."""
    missing: dict[str, int] = {}
    launches: list[dict[str, Any]] = []
    excess: list[dict[str, Any]] = []
    for key in sorted(set(alive) | set(wanted), key=lambda k: (k != MASTER, k)):
        spec = wanted.get(key)
        count = spec["count"] if spec else 0
        nodes = alive.get(key, [])
        if spec is not None:
            missing[key] = max(0, count - len(nodes))
            if missing[key]:
                launches.append(launch_entry(tag_key, cluster_name, spec, missing[key], admin_keys, started))
        if len(nodes) > count:
            excess.extend(newest_first(nodes, "launch_time", "instance_id")[: len(nodes) - count])
    return missing, launches, excess


def _terminations(
    plan: dict[str, Any], doomed: list[dict[str, Any]], requests: dict[str, dict[str, Any]], cancelled: set[str]
) -> None:
    """Doomed instances of an active legacy request go with their request; the others are terminated."""
    for node in newest_first(doomed, "launch_time", "instance_id"):
        request = requests.get(node["request_id"])
        if request is not None and request["state"] == "active" and request["request_id"] not in cancelled:
            plan["terminate_requests"].append(request["request_id"])
            cancelled.add(request["request_id"])
        else:
            plan["terminate_instances"].append(node["instance_id"])


def tag_plan(
    tag_key: str, cluster_name: str, live: list[dict[str, Any]], ssh_address: str, ssh_via_master: bool
) -> list[dict[str, Any]]:
    """Group the live instances that lack (some of) their tags by the tags they need."""
    masters = newest_first([node for node in live if node["role"] == MASTER], "launch_time", "instance_id")
    jump = address(masters[-1], ssh_address) if masters and ssh_via_master else ""
    jump_id = masters[-1]["instance_id"] if jump else ""
    needs: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for node in sorted(live, key=lambda n: n["instance_id"]):
        wanted = base_tags(tag_key, cluster_name, node["role"], node["group"])
        if node["role"] == SLAVE and jump:
            wanted[TAG_JUMP] = jump
            wanted[TAG_JUMP_ID] = jump_id
        missing = {key: value for key, value in wanted.items() if node["tags"].get(key) != value}
        if missing:
            needs.setdefault(tuple(sorted(missing.items())), []).append(node["instance_id"])
    return [{"resource_ids": ids, "tags": dict(tags)} for tags, ids in sorted(needs.items(), key=lambda kv: kv[1])]


def count_changes(plan: dict[str, Any]) -> int:
    return (
        len(plan["launch"])
        + sum(1 for key in ("cancel", "terminate_requests", "terminate_instances") if plan[key])
        + len(plan["delete_templates"])
        + len(plan["tag"])
    )


def make_plan(
    tag_key: str,
    cluster_name: str,
    observed: dict[str, Any],
    groups: list[dict[str, Any]] | None,
    absent: bool = False,
    ssh_address: str = "auto",
    ssh_via_master: bool = False,
    admin_keys: list[str] | tuple[str, ...] = (),
    started: str = "",
) -> dict[str, Any]:
    """What makes EC2 match the configuration (``groups``), or hold nothing of the cluster (``absent``)."""
    plan = empty_plan()
    if groups is None and not absent:
        return plan
    instances: dict[str, dict[str, Any]] = observed["instances"]
    requests: dict[str, dict[str, Any]] = observed["requests"]
    plan["cancel"] = sorted(r["request_id"] for r in requests.values() if r["state"] == "open")
    cancelled = set(plan["cancel"])
    if absent:
        doomed = [node for node in instances.values() if node["state"] not in GONE_STATES]
        _terminations(plan, doomed, requests, cancelled)
        orphans = {
            r["request_id"]
            for r in requests.values()
            if r["state"] in LIVE_REQUEST_STATES and r["request_id"] not in cancelled
        }
        plan["cancel"] = sorted(set(plan["cancel"]) | orphans)
        plan["delete_templates"] = sorted(observed.get("templates", {}))
    else:
        wanted = {group_key(g["role"], g["group"]): g for g in groups or []}
        plan["missing"], plan["launch"], doomed = group_changes(
            tag_key, cluster_name, wanted, _by_group(alive_nodes(observed)), tuple(admin_keys), started
        )
        _terminations(plan, doomed, requests, cancelled)
        doomed_ids = {node["instance_id"] for node in doomed}
        live = [node for node in alive_nodes(observed) if node["instance_id"] not in doomed_ids]
        plan["tag"] = tag_plan(tag_key, cluster_name, live, ssh_address, ssh_via_master)
    plan["changes"] = count_changes(plan)
    return plan
