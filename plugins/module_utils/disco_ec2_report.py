# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report on a disposable.disco cluster: its status, its plan and its launches in words. Pure functions."""

from __future__ import annotations

from typing import Any

from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import MASTER, group_key


def problem_lines(summary: dict[str, Any], missing: dict[str, int]) -> list[str]:
    """Why the cluster is not complete: legacy open or failed requests, pending instances, groups short of nodes."""
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


def report_lines(cluster_name: str, summary: dict[str, Any]) -> list[str]:
    """A human-readable status: one line per node (type, zone, market) and per open or failed request, the tunnel."""
    nodes = summary["nodes"]
    lines = [f"Cluster {cluster_name}: {len(nodes)} node(s)"]
    for node in nodes:
        role = "master" if node["role"] == MASTER else f"slave/{node['group']}"
        lines.append(
            f"  {role:<16} {node['instance_id']:<20} {node['instance_type']:<12} "
            f"{node['availability_zone'] or '-':<12} {node['lifecycle']:<9} {node['state']:<8} {node['address'] or '-'}"
        )
    for node in summary["other_instances"]:
        lines.append(f"  (not running)    {node['instance_id']:<20} {node['instance_type']:<12} {node['state']}")
    for request in summary["open_requests"]:
        lines.append(
            f"  open request     {request['request_id']:<20} {request['role']}/{request['group']}: "
            f"{request['status_code'] or 'open'} {request['status_message']}".rstrip()
        )
    for request in summary["failed_requests"]:
        lines.append(
            f"  failed request   {request['request_id']:<20} {request['role']}/{request['group']}: "
            f"{request['state']}/{request['status_code']} {request['status_message']}".rstrip()
        )
    if summary["master"] is not None:
        lines.append(f"SSH tunnel to Disco (web UI, API, nodes' data through its proxy): {summary['tunnel_command']}")
        lines.append(f"then: {summary['proxy_export']}")
    else:
        lines.append("No running master.")
    return lines


# The plan's lists of ids, in the order plan_lines says them, and what each does ({} is how many).
PLAN_ACTIONS = (
    ("cancel", "cancel {} spot request(s)"),
    ("terminate_requests", "cancel {} spot request(s) and terminate their instances"),
    ("terminate_instances", "terminate {} instance(s)"),
    ("delete_templates", "delete {} launch template(s)"),
)


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """The plan in words: what a run launches, cancels, terminates, deletes and tags."""
    lines = []
    for launch in plan["launch"]:
        market = "on-demand" if launch["market"] == "on-demand" else "spot"
        price = f", max price {launch['max_price']}" if launch.get("max_price") else ""
        lines.append(
            f"  launch {launch['count']} x {market} {'|'.join(launch['instance_types'])} for "
            f"{group_key(launch['role'], launch['group'])}{price}"
        )
    for key, action in PLAN_ACTIONS:
        if plan[key]:
            lines.append(f"  {action.format(len(plan[key]))}: {', '.join(plan[key])}")
    for tagging in plan["tag"]:
        lines.append(f"  tag {len(tagging['resource_ids'])} instance(s) with {tagging['tags']}")
    return lines


def launch_lines(groups: list[dict[str, Any]]) -> list[str]:
    """What ``disco_ec2_fleet`` got per group: type x zone counts, skipped types and why, fallback, shortfall."""
    lines = []
    for group in groups:
        got = ", ".join(
            f"{item['count']} x {item['instance_type']} in {item['zone'] or item['subnet_id'] or 'any zone'}"
            f" ({item['market']})"
            for item in group["got"]
        )
        lines.append(f"  {group['key']}: asked {group['asked']}, got {group['launched']}: {got or 'nothing'}")
        if group.get("image_name"):
            lines.append(f"    image {group['image_id']} ({group['image_name']}, {group['architecture']})")
        for skip in group["skipped"]:
            where = skip["zone"] or skip["subnet_id"] or "any zone"
            lines.append(
                f"    skipped {skip['instance_type']} in {where} ({skip['market']}): "
                f"{skip['code']} {skip['message']}".rstrip()
            )
        if group["fallback"]:
            lines.append(
                f"    no spot capacity for {group['fallback']} node(s): on-demand instead (disco_capacity_fallback)"
            )
        if group["shortfall"]:
            lines.append(
                f"    {group['shortfall']} node(s) short: no capacity in any listed type and zone; the "
                f"{group['launched']} launched stay (tagged; teardown.yml removes them), no request is left open"
            )
    return lines
