"""Provisioning against the strict stand-in: client tokens as AWS keeps them, spot capacity that runs out,
security groups that linger, and launches killed at any moment (SIGKILL to ansible-playbook's process group)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from ec2lab import TAG_KEY, base_config, by_role, tags_of

pytestmark = pytest.mark.slow


def subnets(lab):
    """Two default subnets in two zones: [(subnet id, zone), ...] sorted by zone."""
    found = sorted(lab.ec2().describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    return [(s["SubnetId"], s["AvailabilityZone"]) for s in found][:2]


def ids(instances):
    return {i["InstanceId"] for i in instances}


def test_launch_teardown_launch_starts_new_nodes_and_a_lost_master_is_replaced(lab):
    """AWS answers a replayed ClientToken with the first (now terminated) result; the stand-in does too."""
    lab.config = {**base_config("again"), "disco_num_slaves": 2}
    lab.launch().ok()
    first = ids(lab.instances("again"))
    assert len(first) == 3
    lab.teardown().ok()
    assert lab.instances("again") == []

    run = lab.launch().ok()
    second = lab.instances("again")
    assert len(second) == 3 and not ids(second) & first, "the relaunch started new nodes"
    assert run.calls.count("CreateFleet") == 2

    (master,) = by_role(second, "master")
    lab.ec2().terminate_instances(InstanceIds=[master["InstanceId"]])
    lab.launch().ok()
    (new_master,) = by_role(lab.instances("again"), "master")
    assert new_master["InstanceId"] != master["InstanceId"]
    assert len(by_role(lab.instances("again"), "slave")) == 2


def test_types_and_zones_without_spot_capacity_are_skipped_for_the_others(lab):
    (sub_a, zone_a), (sub_b, zone_b) = subnets(lab)
    lab.moto.refuse_capacity(instance_types=["m5.large"])
    lab.moto.refuse_capacity(zones=[zone_a])
    lab.config = {
        **base_config("fallback"),
        "disco_num_slaves": 3,
        "disco_instance_type": ["m5.large", "c5.large", "m6i.large"],
        "disco_subnet_ids": [sub_a, sub_b],
    }
    run = lab.launch().ok()
    instances = lab.instances("fallback")
    assert len(instances) == 4
    assert {(i["InstanceType"], i["Placement"]["AvailabilityZone"]) for i in instances} == {("c5.large", zone_b)}
    assert {i.get("InstanceLifecycle") for i in instances} == {"spot"}
    assert f"slave/default: asked 3, got 3: 3 x c5.large in {zone_b} (spot)" in run.output
    for instance_type, zone in (("m5.large", zone_a), ("m5.large", zone_b), ("c5.large", zone_a)):
        assert f"skipped {instance_type} in {zone} (spot): InsufficientInstanceCapacity" in run.output
    assert f"skipped m6i.large in {zone_a}" in run.output and f"skipped m6i.large in {zone_b}" not in run.output
    assert run.calls.count("CreateFleet") == 2, "one call per group covers every type x zone"
    assert lab.open_requests() == []


def test_no_spot_capacity_anywhere_falls_back_to_on_demand_when_asked(lab):
    lab.moto.refuse_capacity(code="MaxSpotInstanceCountExceeded")
    lab.config = {**base_config("ondemandfb"), "disco_num_slaves": 2, "disco_capacity_fallback": "on-demand"}
    run = lab.launch().ok()
    instances = lab.instances("ondemandfb")
    assert len(instances) == 3
    assert all(i.get("InstanceLifecycle") != "spot" for i in instances), "on-demand instances"
    assert all(tags_of(i)[TAG_KEY] == "ondemandfb" for i in instances)
    assert "MaxSpotInstanceCountExceeded" in run.output
    assert "no spot capacity for 2 node(s): on-demand instead (disco_capacity_fallback)" in run.output
    assert run.calls.count("CreateFleet") == 4  # per group: spot (refused), then on-demand
    assert lab.open_requests() == []


@pytest.mark.parametrize("kill_after", ["CreateLaunchTemplate", "CreateFleet"])
def test_a_launch_killed_at_any_moment_then_teardown_leaves_nothing(lab, tmp_path, kill_after):
    lab.config = {**base_config("killed"), "disco_num_slaves": 12}
    process = lab.spawn("playbooks/launch.yml", tmp_path / "launch.log", "--tags", "provision")
    deadline = time.monotonic() + 300
    while kill_after not in lab.moto.calls():
        assert process.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the launch never got there"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    started = lab.instances("killed")
    templates = lab.launch_templates("killed")
    assert templates, "the kill came after a launch template existed"
    assert all(tags_of(i)[TAG_KEY] == "killed" for i in started), "tagged from birth"

    lab.teardown().ok()
    left = lab.instances(None, states=("pending", "running", "stopping", "stopped", "shutting-down"))
    assert left == [], "nothing billing"
    assert lab.launch_templates("killed") == []
    assert lab.open_requests() == []


def test_security_group_deletion_is_retried_while_interfaces_linger_then_fails_naming_it(lab):
    lab.config = {**base_config("linger"), "disco_num_slaves": 1}
    lab.launch().ok()
    lab.moto.linger_security_groups(2)
    run = lab.teardown().ok()
    assert "FAILED - RETRYING" in run.output and run.calls.count("DeleteSecurityGroup") == 3
    assert f"{TAG_KEY}-linger" not in {g["GroupName"] for g in lab.ec2().describe_security_groups()["SecurityGroups"]}

    lab.launch().ok()
    lab.moto.linger_security_groups(100)
    run = lab.teardown("-e", "disco_ec2_security_group_timeout=2")
    assert run.returncode != 0
    assert f"Security group(s) {TAG_KEY}-linger of cluster linger could not be deleted within 2s" in run.output
    assert "DependencyViolation" in run.output
    assert lab.instances("linger") == []


def debian_images(lab, release):
    """The images the stand-in has for a release (roles/disco_localcloud/files/debian-amis.json), by arch."""
    filters = [{"Name": "name", "Values": [f"{release}-*"]}]
    images = lab.ec2().describe_images(Owners=["136693071363"], Filters=filters)["Images"]
    return {image["Architecture"]: image for image in images}


def test_disco_ami_by_release_takes_debians_newest_image_for_each_groups_architecture(lab):
    images = debian_images(lab, "debian-12")
    assert set(images) == {"x86_64", "arm64"}
    lab.config = {
        **base_config("release"),
        "disco_ami": "debian-12",
        "disco_slave_groups": [{"name": "arm", "count": 2, "instance_type": "m6g.large"}],
    }
    run = lab.launch().ok()
    (master,) = by_role(lab.instances("release"), "master")
    slaves = by_role(lab.instances("release"), "slave", "arm")
    assert master["ImageId"] == images["x86_64"]["ImageId"]
    assert {s["ImageId"] for s in slaves} == {images["arm64"]["ImageId"]} and len(slaves) == 2
    assert f"image {images['x86_64']['ImageId']} ({images['x86_64']['Name']}, x86_64)" in run.output
    assert f"image {images['arm64']['ImageId']} ({images['arm64']['Name']}, arm64)" in run.output
    assert run.calls.count("DescribeImages") == 1 and run.calls.count("DescribeInstanceTypes") == 1

    again = lab.launch().ok()
    assert again.changed == 0 and "DescribeImages" not in again.calls, "a no-op re-run looks up no image"


def test_a_group_mixing_architectures_is_refused_naming_it(lab):
    lab.config = {**base_config("mixed"), "disco_ami": "debian-13", "disco_instance_type": ["m5.large", "m6g.large"]}
    run = lab.launch()
    assert run.returncode != 0
    assert "master: its instance types mix architectures (arm64, x86_64)" in run.output
    assert lab.instances("mixed") == [] and "CreateFleet" not in run.calls
