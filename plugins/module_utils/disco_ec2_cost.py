# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a disposable.disco cluster costs: its price per hour and the estimate so far. Pure functions.

Prices are EC2's spot prices (``DescribeSpotPriceHistory``, the latest entry per instance type and zone), in USD
per hour, as :class:`decimal.Decimal`. Nothing here knows a price of its own: a type or zone without an entry,
and every on-demand node, is reported as not priced, never guessed.

- a running spot node costs the latest spot price of its type in its zone;
- a node still to be launched (the plan's ``missing``) is estimated at the lowest current spot price among its
  group's instance types and zones, roughly what EC2 Fleet's price-capacity-optimized strategy gets;
- the estimate so far is, per running spot node, the hours since its launch times today's price of its type and
  zone (spot prices change slowly, but this is today's price, not the bill).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import group_key

ON_DEMAND_NOTE = "on-demand (price not known to EC2's API; see the pricing page)"
PriceMap = dict[tuple[str, str], Decimal]


def latest_prices(entries: list[dict[str, Any]]) -> PriceMap:
    """(instance type, zone) -> the price of its newest entry (EC2 answers one entry per change)."""
    newest: dict[tuple[str, str], tuple[str, Decimal]] = {}
    for entry in entries:
        key = (entry.get("InstanceType", ""), entry.get("AvailabilityZone", ""))
        stamp = str(entry.get("Timestamp", ""))
        try:
            price = Decimal(str(entry.get("SpotPrice", "")))
        except InvalidOperation:
            continue
        if key not in newest or stamp >= newest[key][0]:
            newest[key] = (stamp, price)
    return {key: price for key, (_stamp, price) in newest.items()}


def lowest_price(
    prices: PriceMap, instance_types: list[str], zones: list[str] | None
) -> tuple[Decimal, str, str] | None:
    """The cheapest (price, type, zone) among ``instance_types`` in ``zones`` (any zone when None)."""
    found = [
        (price, instance_type, zone)
        for (instance_type, zone), price in prices.items()
        if instance_type in instance_types and (zones is None or zone in zones)
    ]
    return min(found) if found else None


def hours_since(launch_time: str, now: dt.datetime) -> Decimal:
    """Hours from ``launch_time`` (ISO 8601) to ``now``, two decimals, never negative."""
    try:
        start = dt.datetime.fromisoformat(launch_time.replace("Z", "+00:00"))
    except ValueError:
        return Decimal(0)
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    seconds = max((now - start).total_seconds(), 0)
    return (Decimal(seconds) / 3600).quantize(Decimal("0.01"))


def usd(amount: Decimal) -> str:
    return f"{amount:.4f}"


def _max_price(group: dict[str, Any] | None) -> str:
    return f", max price {group['max_price']}" if group and group.get("max_price") else ""


def running_cost(
    nodes: list[dict[str, Any]], groups: dict[str, dict[str, Any]], prices: PriceMap, now: dt.datetime, per_node: bool
) -> tuple[list[str], Decimal, Decimal, int, int]:
    """Lines for the running nodes (one per node with ``per_node``, else one per group, type, zone and market);
    their spot price per hour, the estimate so far, the on-demand and the unpriced counts."""
    rows: dict[tuple[str, ...], list[str]] = {}
    per_hour = so_far = Decimal(0)
    on_demand = unpriced = 0
    for node in nodes:
        key = group_key(node["role"], node["group"])
        hours = hours_since(node.get("launch_time") or "", now)
        price = prices.get((node["instance_type"], node["availability_zone"]))
        if node["lifecycle"] != "spot":
            on_demand += 1
            text = ON_DEMAND_NOTE
        elif price is None:
            unpriced += 1
            text = "no price in EC2's spot price history"
        else:
            per_hour += price
            so_far += hours * price
            text = f"{usd(price)}/h"
        if per_node:
            spent = f", {usd(hours * price)} so far" if node["lifecycle"] == "spot" and price is not None else ""
            text += f", {hours} h run{spent}"
        ident = node["instance_id"] if per_node else ""
        row = (key, ident, node["instance_type"], node["availability_zone"] or "-", node["lifecycle"], text)
        rows.setdefault(row, []).append(node["instance_id"])
    lines = []
    for (key, ident, instance_type, zone, lifecycle, text), ids in rows.items():
        what = ident if per_node else f"{len(ids)} x"
        lines.append(f"  {key:<16} {what:<20} {instance_type} {zone} {lifecycle}: {text}{_max_price(groups.get(key))}")
    return lines, per_hour, so_far, on_demand, unpriced


def planned_cost(
    groups: dict[str, dict[str, Any]], missing: dict[str, int], prices: PriceMap, zones: list[str] | None
) -> tuple[list[str], Decimal, int, int]:
    """Lines for the nodes still to launch; their estimated price per hour, on-demand and unpriced counts."""
    lines: list[str] = []
    per_hour = Decimal(0)
    on_demand = unpriced = 0
    for key, count in sorted(missing.items()):
        group = groups.get(key)
        if not count or group is None:
            continue
        types = list(group["instance_types"])
        head = f"  {key}: {count} to launch, {'|'.join(types)}"
        if group["market"] == "on-demand":
            on_demand += count
            lines.append(f"{head}: {ON_DEMAND_NOTE}")
            continue
        cheapest = lowest_price(prices, types, zones)
        if cheapest is None:
            unpriced += count
            lines.append(f"{head}: no price in EC2's spot price history for these types and zones")
            continue
        price, instance_type, zone = cheapest
        if group.get("max_price") and price > Decimal(str(group["max_price"])):
            lines.append(f"{head}: spot price {usd(price)} is above the max price {group['max_price']}")
            unpriced += count
            continue
        per_hour += count * price
        lines.append(
            f"{head}: estimate {count} x {usd(price)} = {usd(count * price)}/h (lowest spot price now: "
            f"{instance_type} in {zone}){_max_price(group)}"
        )
    return lines, per_hour, on_demand, unpriced


def cost_report(
    groups: list[dict[str, Any]],
    nodes: list[dict[str, Any]],
    missing: dict[str, int],
    prices: PriceMap,
    zones: list[str] | None,
    now: dt.datetime,
    per_node: bool = False,
) -> dict[str, Any]:
    """The cluster's cost: lines in words and the figures (strings of USD, 4 decimals)."""
    by_key = {group_key(g["role"], g["group"]): g for g in groups}
    running = [node for node in nodes if node.get("state") in ("running", "pending")]
    run_lines, run_hour, so_far, run_od, run_unpriced = running_cost(running, by_key, prices, now, per_node)
    plan_lines, plan_hour, plan_od, plan_unpriced = planned_cost(by_key, missing, prices, zones)
    lines = ["Price per hour (EC2 spot price history, Linux/UNIX, latest; USD):", *run_lines, *plan_lines]
    total = f"  total: {usd(run_hour)}/h for the running spot nodes"
    if plan_lines:
        total += f", estimate {usd(run_hour + plan_hour)}/h with the nodes to launch"
    if run_od + plan_od:
        total += f"; plus {run_od + plan_od} on-demand node(s) at a price EC2's API does not give"
    if run_unpriced + plan_unpriced:
        total += f"; {run_unpriced + plan_unpriced} node(s) not priced"
    lines.append(total)
    if per_node:
        lines.append(f"  estimate so far: {usd(so_far)} (hours run x the spot price now; on-demand nodes not included)")
    return {
        "lines": lines,
        "per_hour": usd(run_hour),
        "per_hour_with_planned": usd(run_hour + plan_hour),
        "so_far": usd(so_far),
        "on_demand_nodes": run_od + plan_od,
        "unpriced_nodes": run_unpriced + plan_unpriced,
    }
