"""Provisioning edge cases against moto: refusals before any EC2 call, on-demand master, no spot capacity."""

from __future__ import annotations

import pytest
from ec2lab import TAG_KEY, base_config, by_role, tags_of

pytestmark = pytest.mark.slow


def test_empty_ssh_cidrs_without_named_groups_is_refused_before_any_ec2_call(lab):
    config = {**base_config("nocidr"), "disco_ssh_cidrs": []}
    run = lab.launch(config=config)
    assert run.returncode != 0
    assert "disco_ssh_cidrs is empty" in run.output and "disco_security_groups" in run.output
    assert lab.moto.calls() == []


@pytest.mark.parametrize("playbook", ["launch", "teardown", "status"])
def test_bad_config_makes_no_ec2_call(lab, playbook):
    config = {**base_config("bad"), "NUM_SLAVES": -1}
    if playbook == "launch":
        run = lab.launch(config=config)
    else:
        run = lab.playbook(f"playbooks/{playbook}.yml", config=config)
    assert run.returncode != 0
    assert "NUM_SLAVES: must be a whole number" in run.output
    assert lab.moto.calls() == []


def test_on_demand_master_in_named_security_group(lab):
    group_id = lab.ec2().create_security_group(GroupName="existing", Description="made by the user")["GroupId"]
    lab.config = {
        **base_config("ondemand"),
        "disco_master_market": "on-demand",
        "disco_security_groups": ["existing"],
        "disco_ssh_cidrs": [],
        "disco_num_slaves": 1,
    }
    run = lab.launch().ok()
    assert "CreateSecurityGroup" not in run.calls and "AuthorizeSecurityGroupIngress" not in run.calls
    assert run.calls.count("CreateFleet") == 2 and "RunInstances" not in run.calls
    instances = lab.instances("ondemand")
    (master,) = by_role(instances, "master")
    (slave,) = by_role(instances, "slave")
    assert master.get("InstanceLifecycle") != "spot" and slave.get("InstanceLifecycle") == "spot"
    assert tags_of(master)[TAG_KEY] == "ondemand" and tags_of(master)["disco-group"] == "master"
    assert [g["GroupId"] for g in master["SecurityGroups"]] == [group_id]
    assert [g["GroupName"] for g in slave["SecurityGroups"]] == ["existing"]

    again = lab.launch().ok()
    assert again.changed == 0 and again.mutating_calls == [], again.calls

    gone = lab.teardown().ok()
    assert gone.calls.count("TerminateInstances") == 1  # both in one call
    assert "DeleteSecurityGroup" not in gone.calls, "the user's group is not ours to delete"
    assert lab.instances("ondemand") == []


def test_no_spot_capacity_fails_naming_the_shortfall_keeps_what_started_and_leaves_no_request(lab):
    """The slaves' type has no spot capacity anywhere (disco_capacity_fallback: fail): the run fails at once naming
    the group, the code and what is kept; the master that did start stays, tagged; no request is open."""
    lab.moto.refuse_capacity(instance_types=["c5.large"], code="capacity-not-available")
    lab.config = {
        **base_config("stuck"),
        "disco_num_slaves": 2,
        "disco_slave_instance_type": "c5.large",
        "disco_wait_timeout": 30,
    }
    run = lab.launch()
    assert run.returncode != 0
    assert "not complete after waiting up to 30s" in run.output and "disco_capacity_fallback: fail" in run.output
    assert "slave/default: 2 node(s) missing" in run.output
    assert "skipped c5.large in us-east-1a (spot): capacity-not-available" in run.output  # each default subnet
    assert "2 node(s) short" in run.output and "no request is left open" in run.output
    (master,) = by_role(lab.instances("stuck"), "master")
    assert tags_of(master)[TAG_KEY] == "stuck"
    assert lab.open_requests() == []

    gone = lab.teardown().ok()
    assert "CancelSpotInstanceRequests" not in gone.calls
    assert lab.instances("stuck") == [] and lab.launch_templates("stuck") == []
