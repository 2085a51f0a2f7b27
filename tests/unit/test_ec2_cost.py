"""The price arithmetic of disco_ec2_price_info (module_utils/disco_ec2_cost.py): figures from the given prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ansible_collections.disposable.disco.plugins.module_utils import disco_ec2 as model
from ansible_collections.disposable.disco.plugins.module_utils import disco_ec2_cost as cost

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MASTER = {"instance_type": "m5.large", "market": "on-demand", "max_price": None}
SLAVES = [{"name": "default", "count": 2, "instance_types": ["m5.large", "m5a.large"], "max_price": "0.05"}]


def node(iid, role="slave", group="default", zone="us-east-1a", lifecycle="spot", hours=0.0, kind="m5.large"):
    launched = (NOW - timedelta(hours=hours)).isoformat()
    return {
        "instance_id": iid,
        "role": role,
        "group": group,
        "state": "running",
        "instance_type": kind,
        "availability_zone": zone,
        "lifecycle": lifecycle,
        "launch_time": launched,
    }


def entry(kind, zone, price, stamp="2026-01-01T11:00:00+00:00"):
    return {"InstanceType": kind, "AvailabilityZone": zone, "SpotPrice": price, "Timestamp": stamp}


def test_latest_prices_keeps_the_newest_entry_per_type_and_zone():
    prices = cost.latest_prices(
        [
            entry("m5.large", "us-east-1a", "0.0300", "2026-01-01T09:00:00+00:00"),
            entry("m5.large", "us-east-1a", "0.0350", "2026-01-01T10:00:00+00:00"),
            entry("m5.large", "us-east-1b", "0.0410"),
            entry("m5.large", "us-east-1c", "not a price"),
        ]
    )
    assert prices == {("m5.large", "us-east-1a"): Decimal("0.0350"), ("m5.large", "us-east-1b"): Decimal("0.0410")}


def test_lowest_price_among_the_group_types_and_zones():
    prices = {
        ("m5.large", "us-east-1a"): Decimal("0.035"),
        ("m5a.large", "us-east-1b"): Decimal("0.031"),
        ("m5a.large", "us-east-1c"): Decimal("0.020"),
    }
    assert cost.lowest_price(prices, ["m5.large", "m5a.large"], ["us-east-1a", "us-east-1b"]) == (
        Decimal("0.031"),
        "m5a.large",
        "us-east-1b",
    )
    assert cost.lowest_price(prices, ["m5a.large"], None)[2] == "us-east-1c"
    assert cost.lowest_price(prices, ["c5.large"], None) is None


def test_hours_since_launch():
    assert cost.hours_since((NOW - timedelta(minutes=90)).isoformat(), NOW) == Decimal("1.50")
    assert cost.hours_since((NOW + timedelta(minutes=5)).isoformat(), NOW) == Decimal(0)
    assert cost.hours_since("", NOW) == Decimal(0)


def test_running_cluster_price_per_hour_and_estimate_so_far():
    groups = model.desired_groups(MASTER, SLAVES)
    nodes = [
        node("i-m", role="master", group="master", lifecycle="on-demand", hours=2),
        node("i-1", hours=2),
        node("i-2", zone="us-east-1b", hours=1),
    ]
    prices = {("m5.large", "us-east-1a"): Decimal("0.0350"), ("m5.large", "us-east-1b"): Decimal("0.0410")}
    report = cost.cost_report(groups, nodes, {}, prices, ["us-east-1a", "us-east-1b"], NOW, per_node=True)
    assert report["per_hour"] == "0.0760"
    assert report["so_far"] == "0.1110"  # 2 h x 0.035 + 1 h x 0.041
    assert report["on_demand_nodes"] == 1
    text = "\n".join(report["lines"])
    assert "i-1" in text and "0.0350/h, 2.00 h run, 0.0700 so far, max price 0.05" in text
    assert cost.ON_DEMAND_NOTE in text
    assert "estimate so far: 0.1110" in text


def test_planned_nodes_are_estimated_at_the_lowest_spot_price_and_on_demand_is_not_priced():
    groups = model.desired_groups(MASTER, SLAVES)
    prices = {("m5.large", "us-east-1a"): Decimal("0.0350"), ("m5a.large", "us-east-1a"): Decimal("0.0400")}
    report = cost.cost_report(groups, [], {"master": 1, "slave/default": 2}, prices, ["us-east-1a"], NOW)
    assert report["per_hour"] == "0.0000"
    assert report["per_hour_with_planned"] == "0.0700"
    assert report["on_demand_nodes"] == 1
    text = "\n".join(report["lines"])
    assert "slave/default: 2 to launch, m5.large|m5a.large: estimate 2 x 0.0350 = 0.0700/h" in text
    assert "master: 1 to launch, m5.large: " + cost.ON_DEMAND_NOTE in text


def test_a_spot_price_above_the_max_price_or_missing_is_reported_not_guessed():
    groups = model.desired_groups({**MASTER, "market": "spot"}, [{**SLAVES[0], "max_price": "0.03"}])
    prices = {("m5.large", "us-east-1a"): Decimal("0.0350")}
    report = cost.cost_report(groups, [node("i-x", zone="us-east-1z")], {"slave/default": 1}, prices, None, NOW)
    text = "\n".join(report["lines"])
    assert "spot price 0.0350 is above the max price 0.03" in text
    assert "no price in EC2's spot price history" in text
    assert report["unpriced_nodes"] == 2
    assert report["per_hour_with_planned"] == "0.0000"
