"""The pure planning logic of plugins/module_utils/disco_ec2.py: observe, plan, tags, hostvars, status."""

from __future__ import annotations

import base64
import importlib.util
from datetime import UTC, datetime
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "plugins" / "module_utils" / "disco_ec2.py"
_SPEC = importlib.util.spec_from_file_location("disco_ec2", _PATH)
ec2 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ec2)

KEY, NAME = "disposabledisco", "alpha"
MASTER = {"instance_type": "m5.large", "market": "spot", "max_price": "0.05", "multiplier": 1}


def tags(**values):
    return [{"Key": k.replace("_", "-") if k != "key" else KEY, "Value": v} for k, v in values.items()]


def instance(iid, role=None, group=None, state="running", minute=0, tagged=True, public="198.51.100.1"):
    data = {
        "InstanceId": iid,
        "State": {"Name": state},
        "InstanceType": "m5.large",
        "PrivateIpAddress": "10.0.0." + iid[-1],
        "PublicIpAddress": public,
        "LaunchTime": datetime(2024, 1, 1, 0, minute, tzinfo=UTC),
    }
    if tagged and role:
        data["Tags"] = tags(key=NAME, disco_role=role, disco_group=group or "master")
        data["Tags"].append({"Key": "Name", "Value": f"{NAME}-{group or 'master'}"})
    return data


def request(rid, iid=None, role="slave", group="default", state="active", code="fulfilled", price="0.050000"):
    data = {
        "SpotInstanceRequestId": rid,
        "State": state,
        "Status": {"Code": code, "Message": code},
        "LaunchSpecification": {"InstanceType": "m5.large"},
        "SpotPrice": price,
        "Tags": tags(key=NAME, disco_role=role, disco_group=group),
    }
    if iid:
        data["InstanceId"] = iid
    return data


def plan(requests, instances, count=2, absent=False, **kwargs):
    observed = ec2.observe(KEY, NAME, requests, instances)
    groups = ec2.desired_groups(
        MASTER, [{"name": "default", "count": count, "instance_type": "m5.large", "max_price": "0.05"}]
    )
    return ec2.make_plan(KEY, NAME, observed, None if absent else groups, absent=absent, **kwargs)


def test_empty_cluster_requests_master_and_slaves():
    result = plan([], [])
    assert [(r["role"], r["group"], r["count"]) for r in result["request"]] == [
        ("master", "master", 1),
        ("slave", "default", 2),
    ]
    assert result["changes"] == 2
    slave = result["request"][1]
    assert slave["tags"] == {KEY: NAME, "disco-role": "slave", "disco-group": "default", "Name": "alpha-default"}
    assert base64.b64decode(slave["user_data_b64"]).decode() == slave["user_data"]
    assert "role=slave" in slave["user_data"]


def test_matching_cluster_plans_nothing():
    instances = [instance("i-1", "master"), instance("i-2", "slave", "default"), instance("i-3", "slave", "default")]
    result = plan([], instances)
    assert result["changes"] == 0 and result["request"] == [] and result["tag"] == []


def test_untagged_instances_of_our_requests_are_counted_and_tagged():
    instances = [
        instance("i-1", "master"),
        instance("i-2", tagged=False),
        instance("i-3", tagged=False),
    ]
    requests = [request("sir-2", "i-2"), request("sir-3", "i-3")]
    result = plan(requests, instances, ssh_via_master=True)
    assert result["request"] == []
    (tagging,) = result["tag"]
    assert tagging["resource_ids"] == ["i-2", "i-3"]
    assert tagging["tags"]["disco-role"] == "slave" and tagging["tags"]["disco-jump-host"] == "198.51.100.1"


def test_open_pending_requests_count_held_ones_are_replaced():
    instances = [instance("i-1", "master")]
    requests = [
        request("sir-a", state="open", code="pending-evaluation"),
        request("sir-b", state="open", code="capacity-not-available"),
    ]
    result = plan(requests, instances)
    assert result["cancel"] == ["sir-b"]
    assert [(r["group"], r["count"]) for r in result["request"]] == [("default", 1)]


def test_open_request_with_another_price_is_replaced():
    requests = [request("sir-a", state="open", code="pending-evaluation", price="0.010000")]
    result = plan(requests, [instance("i-1", "master"), instance("i-2", "slave", "default")])
    assert result["cancel"] == ["sir-a"] and result["request"][0]["count"] == 1


def test_dead_or_failed_nodes_are_replaced():
    instances = [
        instance("i-1", "master"),
        instance("i-2", "slave", "default", state="terminated"),
        instance("i-3", "slave", "default"),
    ]
    requests = [
        request("sir-2", "i-2", state="closed", code="instance-terminated-by-price"),
        request("sir-9", state="failed"),
    ]
    result = plan(requests, instances)
    assert [(r["group"], r["count"]) for r in result["request"]] == [("default", 1)]
    assert result["cancel"] == [] and result["terminate_requests"] == []


def test_scale_down_cancels_open_requests_first_then_terminates_newest():
    instances = [
        instance("i-1", "master"),
        instance("i-2", "slave", "default", minute=1),
        instance("i-3", "slave", "default", minute=3),
        instance("i-4", "slave", "default", minute=2),
        instance("i-5", "slave", "default", minute=4, tagged=False),
    ]
    requests = [
        request("sir-3", "i-3"),
        request("sir-5", "i-5"),
        request("sir-o", state="open", code="pending-evaluation"),
    ]
    result = plan(requests, instances, count=2)
    assert result["cancel"] == ["sir-o"]
    # newest first: i-5 (request sir-5), i-3 (request sir-3); i-4 stays
    assert result["terminate_requests"] == ["sir-5", "sir-3"]
    assert result["terminate_instances"] == []
    assert all("i-5" not in t["resource_ids"] for t in result["tag"]), "no tags for doomed instances"


def test_excess_instance_without_request_is_terminated_directly():
    instances = [instance("i-1", "master"), instance("i-2", "slave", "default"), instance("i-3", "slave", "default")]
    result = plan([], instances, count=1)
    assert result["terminate_instances"] == ["i-3"] and result["terminate_requests"] == []


def test_removed_group_is_emptied():
    instances = [instance("i-1", "master"), instance("i-2", "slave", "gone")]
    result = plan([request("sir-2", "i-2", group="gone")], instances, count=0)
    assert result["terminate_requests"] == ["sir-2"] and result["request"] == []


def test_on_demand_master_market_cancels_open_spot_master_request():
    observed = ec2.observe(KEY, NAME, [request("sir-m", role="master", state="open", code="pending-evaluation")], [])
    groups = ec2.desired_groups({**MASTER, "market": "on-demand"}, [])
    result = ec2.make_plan(KEY, NAME, observed, groups)
    assert result["cancel"] == ["sir-m"]
    assert [(r["role"], r["market"]) for r in result["request"]] == [("master", "on-demand")]


def test_absent_removes_everything_of_the_cluster():
    instances = [
        instance("i-1", "master"),
        instance("i-2", tagged=False),
        instance("i-3", "slave", "default", state="stopped"),
        instance("i-4", "slave", "default", state="terminated"),
    ]
    requests = [
        request("sir-2", "i-2"),
        request("sir-o", state="open", code="pending-evaluation"),
        request("sir-4", "i-4"),  # moto keeps requests active after their instance is gone
        request("sir-c", state="cancelled", code="canceled-before-fulfillment"),
    ]
    result = plan(requests, instances, absent=True)
    assert result["cancel"] == ["sir-4", "sir-o"]
    assert result["terminate_requests"] == ["sir-2"]
    assert sorted(result["terminate_instances"]) == ["i-1", "i-3"]
    assert result["tag"] == [] and result["request"] == []


def test_absent_on_empty_cluster_is_a_no_op():
    assert plan([], [], absent=True)["changes"] == 0


def test_other_clusters_requests_are_ignored():
    foreign = request("sir-x", "i-x")
    foreign["Tags"] = tags(key="beta", disco_role="slave")
    observed = ec2.observe(KEY, NAME, [foreign], [])
    assert observed["requests"] == {}


def test_client_token_is_deterministic_and_changes_with_the_view():
    spec = {"role": "slave", "group": "default", "instance_type": "m5.large", "max_price": "0.05"}
    one = ec2.client_token(KEY, NAME, spec, 2, ["i-1", "sir-2"])
    assert one == ec2.client_token(KEY, NAME, spec, 2, ["sir-2", "i-1"])
    assert one != ec2.client_token(KEY, NAME, spec, 2, ["i-1"])
    assert one != ec2.client_token(KEY, NAME, spec, 3, ["i-1", "sir-2"])
    assert len(one) <= 64


def test_hostvars_and_status_with_jump_host():
    instances = [instance("i-1", "master", public="203.0.113.5"), instance("i-2", "slave", "default", public="")]
    observed = ec2.observe(KEY, NAME, [request("sir-f", state="failed", code="bad-parameters")], instances)
    summary = ec2.summarise(NAME, observed, ssh_user="admin", ssh_address="auto", ssh_via_master=True)
    master, slave = summary["nodes"]
    assert master["hostvars"]["ansible_host"] == "203.0.113.5" and "ansible_ssh_common_args" not in master["hostvars"]
    assert slave["hostvars"]["ansible_host"] == "10.0.0.2"
    assert slave["hostvars"]["ansible_ssh_common_args"] == "-o ProxyJump=admin@203.0.113.5"
    assert summary["tunnel_command"] == "ssh -N -L 8989:localhost:8989 admin@203.0.113.5"
    lines = ec2.report_lines(NAME, summary)
    assert any("sir-f" in line and "bad-parameters" in line for line in lines)
    assert lines[-1] == "then: export DISCO_PROXY=http://localhost:8989"
    problems = ec2.problem_lines(summary, {"slave/default": 1})
    assert any("sir-f" in line for line in problems) and "  slave/default: 1 node(s) missing" in problems


def test_private_address_preference():
    node = ec2.observe(KEY, NAME, [], [instance("i-1", "master")])["instances"]["i-1"]
    assert ec2.node_hostvars(node, node, NAME, "admin", "private", False)["ansible_host"] == "10.0.0.1"
    assert ec2.node_hostvars(node, node, NAME, "admin", "public", False)["ansible_host"] == "198.51.100.1"


def test_plan_lines_describe_every_action():
    result = plan([request("sir-o", state="open", code="price-too-low")], [instance("i-1", "master")])
    text = "\n".join(ec2.plan_lines(result))
    assert "request 2 x m5.large spot request(s) for slave/default" in text
    assert "cancel 1 request(s): sir-o" in text


def test_chunks():
    assert ec2.chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert ec2.chunks([], 200) == []
