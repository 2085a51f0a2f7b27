"""The pure logic of the cluster's EC2 side: model (disco_ec2), observe, plan and report, split by concern."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from ansible_collections.disposable.disco.plugins.module_utils import disco_ec2 as model
from ansible_collections.disposable.disco.plugins.module_utils import disco_ec2_observe as observing
from ansible_collections.disposable.disco.plugins.module_utils import disco_ec2_plan as planning
from ansible_collections.disposable.disco.plugins.module_utils import disco_ec2_report as reporting

KEY, NAME = "disposabledisco", "alpha"
MASTER = {"instance_type": "m5.large", "market": "spot", "max_price": "0.05", "multiplier": 1}
SSH = {"ssh_user": "admin", "ssh_address": "auto", "ssh_via_master": False}


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
        "Placement": {"AvailabilityZone": "us-east-1a"},
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


def template(tid, group="default"):
    return {"LaunchTemplateId": tid, "LaunchTemplateName": f"t-{group}", "Tags": tags(key=NAME, disco_group=group)}


def groups(count=2, types=("m5.large",)):
    slave = {"name": "default", "count": count, "instance_types": list(types), "max_price": "0.05", "multiplier": 2}
    return model.desired_groups(MASTER, [slave])


def plan(requests, instances, count=2, absent=False, templates=(), **kwargs):
    observed = observing.observe(KEY, NAME, requests, instances, list(templates))
    return planning.make_plan(KEY, NAME, observed, None if absent else groups(count), absent=absent, **kwargs)


def test_empty_cluster_launches_master_and_slaves_saying_per_group_what_is_missing():
    result = plan([], [])
    assert result["missing"] == {"master": 1, "slave/default": 2}
    assert [(r["role"], r["group"], r["count"]) for r in result["launch"]] == [
        ("master", "master", 1),
        ("slave", "default", 2),
    ]
    assert result["changes"] == 2
    slave = result["launch"][1]
    assert slave["tags"] == {KEY: NAME, "disco-role": "slave", "disco-group": "default", "Name": "alpha-default"}
    assert slave["instance_types"] == ["m5.large"] and slave["market"] == "spot" and slave["max_price"] == "0.05"
    assert "role=slave" in slave["user_data"]
    assert "client_token" not in slave, "a token derived from the cluster's state would repeat after a teardown"


def test_single_instance_type_configs_still_give_a_type_list():
    (master,) = model.desired_groups({"instance_type": "c1.medium", "market": "spot"}, [])
    assert master["instance_types"] == ["c1.medium"]


def test_matching_cluster_plans_nothing():
    instances = [instance("i-1", "master"), instance("i-2", "slave", "default"), instance("i-3", "slave", "default")]
    result = plan([], instances)
    assert result["changes"] == 0 and result["launch"] == [] and result["tag"] == []
    assert result["missing"] == {"master": 0, "slave/default": 0}


def test_terminated_master_is_missing_again():
    instances = [instance("i-1", "master", state="terminated"), instance("i-2", "slave", "default")]
    instances.append(instance("i-3", "slave", "default"))
    result = plan([], instances)
    assert [(r["role"], r["count"]) for r in result["launch"]] == [("master", 1)]


def test_untagged_instances_of_legacy_requests_are_counted_and_tagged():
    instances = [instance("i-1", "master"), instance("i-2", tagged=False), instance("i-3", tagged=False)]
    requests = [request("sir-2", "i-2"), request("sir-3", "i-3")]
    result = plan(requests, instances, ssh_via_master=True)
    assert result["launch"] == []
    (tagging,) = result["tag"]
    assert tagging["resource_ids"] == ["i-2", "i-3"]
    assert tagging["tags"]["disco-role"] == "slave" and tagging["tags"]["disco-jump-host"] == "198.51.100.1"
    assert tagging["tags"]["disco-jump-host-id"] == "i-1", "the master's id: its host key's name on the jump"


def test_open_legacy_requests_are_all_cancelled_and_do_not_count():
    instances = [instance("i-1", "master")]
    requests = [
        request("sir-a", state="open", code="pending-evaluation"),
        request("sir-b", state="open", code="capacity-not-available"),
    ]
    result = plan(requests, instances)
    assert result["cancel"] == ["sir-a", "sir-b"]
    assert [(r["group"], r["count"]) for r in result["launch"]] == [("default", 2)]


def test_dead_nodes_are_replaced():
    instances = [
        instance("i-1", "master"),
        instance("i-2", "slave", "default", state="terminated"),
        instance("i-3", "slave", "default"),
    ]
    result = plan([request("sir-9", state="failed")], instances)
    assert [(r["group"], r["count"]) for r in result["launch"]] == [("default", 1)]
    assert result["cancel"] == [] and result["terminate_requests"] == []


def test_scale_down_terminates_newest_and_cancels_legacy_requests_with_them():
    instances = [
        instance("i-1", "master"),
        instance("i-2", "slave", "default", minute=1),
        instance("i-3", "slave", "default", minute=3),
        instance("i-4", "slave", "default", minute=2),
        instance("i-5", "slave", "default", minute=4, tagged=False),
    ]
    result = plan([request("sir-3", "i-3"), request("sir-5", "i-5")], instances, count=2)
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
    result = plan([], instances, count=0)
    assert result["terminate_instances"] == ["i-2"] and result["launch"] == []


def test_on_demand_master_market_is_planned():
    observed = observing.observe(KEY, NAME, [], [])
    result = planning.make_plan(KEY, NAME, observed, model.desired_groups({**MASTER, "market": "on-demand"}, []))
    assert [(r["role"], r["market"]) for r in result["launch"]] == [("master", "on-demand")]


def test_absent_removes_everything_of_the_cluster_launch_templates_included():
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
    result = plan(requests, instances, absent=True, templates=[template("lt-1"), template("lt-2", "master")])
    assert result["cancel"] == ["sir-4", "sir-o"]
    assert result["terminate_requests"] == ["sir-2"]
    assert sorted(result["terminate_instances"]) == ["i-1", "i-3"]
    assert result["delete_templates"] == ["lt-1", "lt-2"]
    assert result["tag"] == [] and result["launch"] == []


def test_absent_on_empty_cluster_is_a_no_op():
    assert plan([], [], absent=True)["changes"] == 0


def test_other_clusters_requests_and_templates_are_ignored():
    foreign = request("sir-x", "i-x")
    foreign["Tags"] = tags(key="beta", disco_role="slave")
    other = template("lt-x")
    other["Tags"] = tags(key="beta")
    observed = observing.observe(KEY, NAME, [foreign], [], [other])
    assert observed["requests"] == {} and observed["templates"] == {}


def test_hostvars_carry_the_plans_multiplier_and_status_names_type_and_zone():
    instances = [instance("i-1", "master", public="203.0.113.5"), instance("i-2", "slave", "default", public="")]
    observed = observing.observe(KEY, NAME, [request("sir-f", state="failed", code="bad-parameters")], instances)
    multipliers = {"master": 1, "slave/default": 2}
    summary = observing.summarise(NAME, observed, {**SSH, "ssh_via_master": True}, multipliers)
    master, slave = summary["nodes"]
    assert master["hostvars"]["ansible_host"] == "203.0.113.5" and "ansible_ssh_common_args" not in master["hostvars"]
    assert master["hostvars"]["disco_multiplier"] == 1 and slave["hostvars"]["disco_multiplier"] == 2
    assert slave["hostvars"]["ansible_host"] == "10.0.0.2"
    assert slave["hostvars"]["ansible_ssh_common_args"] == "-o ProxyJump=admin@203.0.113.5"
    assert summary["tunnel_command"] == "ssh -N -L 8989:127.0.0.1:8999 admin@203.0.113.5"
    lines = reporting.report_lines(NAME, summary)
    assert any("i-2" in line and "m5.large" in line and "us-east-1a" in line for line in lines)
    assert any("sir-f" in line and "bad-parameters" in line for line in lines)
    assert lines[-1] == "then: export DISCO_PROXY=http://localhost:8989 DISCO_MASTER=http://localhost:8989"
    problems = reporting.problem_lines(summary, {"slave/default": 1})
    assert any("sir-f" in line for line in problems) and "  slave/default: 1 node(s) missing" in problems


def test_private_address_preference():
    node = observing.observe(KEY, NAME, [], [instance("i-1", "master")])["instances"]["i-1"]
    assert observing.node_hostvars(node, node, NAME, {"ssh_address": "private"})["ansible_host"] == "10.0.0.1"
    assert observing.node_hostvars(node, node, NAME, {"ssh_address": "public"})["ansible_host"] == "198.51.100.1"


def test_plan_lines_describe_every_action():
    result = plan([request("sir-o", state="open", code="price-too-low")], [instance("i-1", "master")])
    text = "\n".join(reporting.plan_lines(result))
    assert "launch 2 x spot m5.large for slave/default, max price 0.05" in text
    assert "cancel 1 spot request(s): sir-o" in text


def test_launch_lines_say_type_zone_skips_fallback_and_shortfall():
    group = {
        "key": "slave/default",
        "asked": 3,
        "launched": 2,
        "got": [
            {
                "instance_type": "c5.large",
                "subnet_id": "subnet-b",
                "zone": "us-east-1b",
                "market": "on-demand",
                "count": 2,
            }
        ],
        "skipped": [
            {
                "instance_type": "m5.large",
                "subnet_id": "subnet-a",
                "zone": "us-east-1a",
                "market": "spot",
                "code": "InsufficientInstanceCapacity",
                "message": "no m5.large",
            }
        ],
        "fallback": 2,
        "shortfall": 1,
    }
    text = "\n".join(reporting.launch_lines([group]))
    assert "slave/default: asked 3, got 2: 2 x c5.large in us-east-1b (on-demand)" in text
    assert "skipped m5.large in us-east-1a (spot): InsufficientInstanceCapacity no m5.large" in text
    assert "on-demand instead" in text and "1 node(s) short" in text and "no request is left open" in text


def test_launch_template_holds_tags_for_instance_and_volume_and_no_market_options():
    (launch,) = plan([], [instance("i-1", "master")])["launch"]
    data = model.launch_template_data(launch, "ami-12345678", "key", ["sg-0123", "sg-0042"])
    assert [spec["ResourceType"] for spec in data["TagSpecifications"]] == ["instance", "volume"]
    assert all({"Key": KEY, "Value": NAME} in spec["Tags"] for spec in data["TagSpecifications"])
    assert "InstanceMarketOptions" not in data and data["InstanceInitiatedShutdownBehavior"] == "terminate"
    assert base64.b64decode(data["UserData"]).decode() == launch["user_data"]
    assert "SecurityGroups" not in data and "SecurityGroupIds" not in data, "groups go on the network interface"
    assert data["NetworkInterfaces"] == [
        {
            "DeviceIndex": 0,
            "AssociatePublicIpAddress": True,
            "DeleteOnTermination": True,
            "Groups": ["sg-0042", "sg-0123"],
        }
    ]
    assert "SubnetId" not in data["NetworkInterfaces"][0], "the subnet comes from each fleet override"
    private = model.launch_template_data(launch, "ami-12345678", None, ["sg-0123"], public_ip=False)
    assert private["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
    with pytest.raises(ValueError, match="sg- ids, got disposabledisco-alpha"):
        model.launch_template_data(launch, "ami-12345678", None, ["disposabledisco-alpha"])
    name = model.launch_template_name(KEY, NAME, "default", data)
    assert name.startswith("disposabledisco-alpha-default-") and name == model.launch_template_name(
        KEY, NAME, "default", dict(data)
    )
    assert name != model.launch_template_name(KEY, NAME, "default", {**data, "ImageId": "ami-87654321"})


def test_chunks():
    assert model.chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert model.chunks([], 200) == []


def test_pick_image_takes_the_newest_available_image_of_the_release_and_architecture():
    images = [
        {
            "image_id": "ami-1",
            "name": "debian-13-amd64-20250101-1",
            "architecture": "x86_64",
            "creation_date": "2025-01-01",
        },
        {
            "image_id": "ami-2",
            "name": "debian-13-amd64-20250601-2",
            "architecture": "x86_64",
            "creation_date": "2025-06-01",
        },
        {
            "image_id": "ami-3",
            "name": "debian-13-arm64-20250701-3",
            "architecture": "arm64",
            "creation_date": "2025-07-01",
        },
        {
            "image_id": "ami-4",
            "name": "debian-12-amd64-20250801-4",
            "architecture": "x86_64",
            "creation_date": "2025-08-01",
        },
        {
            "image_id": "ami-5",
            "name": "debian-13-amd64-20250901-5",
            "architecture": "x86_64",
            "creation_date": "2025-09-01",
            "state": "pending",
        },
    ]
    assert model.pick_image(images, "debian-13", "x86_64")["image_id"] == "ami-2"
    assert model.pick_image(images, "debian-13", "arm64")["image_id"] == "ami-3"
    assert model.pick_image(images, "debian-12", "x86_64")["image_id"] == "ami-4"
    assert model.pick_image(images, "debian-12", "arm64") is None
    assert model.architecture_of({"ProcessorInfo": {"SupportedArchitectures": ["arm64"]}}) == "arm64"
    assert model.architecture_of({"ProcessorInfo": {"SupportedArchitectures": ["i386", "x86_64"]}}) == "x86_64"


def test_a_bastion_reaches_every_node_at_its_private_address():
    node = observing.observe(KEY, NAME, [], [instance("i-1", "master")])["instances"]["i-1"]
    ssh = {"ssh_jump_host": "ec2-user@bastion.example.org:2222", "ssh_via_master": True}
    hostvars = observing.node_hostvars(node, node, NAME, ssh)
    assert hostvars["ansible_host"] == "10.0.0.1"
    assert hostvars["ansible_ssh_common_args"] == "-o ProxyJump=ec2-user@bastion.example.org:2222"
    summary = observing.summarise(NAME, observing.observe(KEY, NAME, [], [instance("i-1", "master")]), ssh)
    assert summary["tunnel_command"] == (
        "ssh -J ec2-user@bastion.example.org:2222 -N -L 8989:127.0.0.1:8999 admin@10.0.0.1"
    )
