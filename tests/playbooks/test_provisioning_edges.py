"""Provisioning edge cases against moto: refusals before any EC2 call, on-demand master, stuck spot requests."""

from __future__ import annotations

import pytest
from ec2lab import TAG_KEY, base_config, by_role, tags_of
from moto.ec2.models.spot_requests import SpotInstanceRequest

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
    assert run.calls.count("RunInstances") == 1 and run.calls.count("RequestSpotInstances") == 1
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
    assert gone.calls.count("TerminateInstances") == 2  # the spot slave with its request, the on-demand master
    assert "DeleteSecurityGroup" not in gone.calls, "the user's group is not ours to delete"
    assert lab.instances("ondemand") == []


def test_stuck_spot_requests_time_out_naming_them_and_teardown_cancels_them(lab, monkeypatch):
    original = SpotInstanceRequest.__init__

    def held(self, *args, **kwargs):  # every new request stays open: no capacity
        original(self, *args, **kwargs)
        self.instance.terminate()
        self.state, self._status_code = "open", "capacity-not-available"
        self.status_message = "There is no Spot capacity available that matches your request."

    monkeypatch.setattr(SpotInstanceRequest, "__init__", held)
    lab.config = {
        **base_config("stuck"),
        "disco_num_slaves": 1,
        "disco_wait_timeout": 30,
    }
    # Three looks one second apart rather than 30 s of waiting: the role's derived retry count, overridden.
    run = lab.launch("-e", "disco_ec2_wait_retries=3")
    assert run.returncode != 0
    assert "FAILED - RETRYING" in run.output and "Wait for the spot requests to be fulfilled" in run.output
    assert "not complete after waiting up to 30s" in run.output
    stuck = [r["SpotInstanceRequestId"] for r in lab.requests("stuck")]
    assert len(stuck) == 2
    for request_id in stuck:
        assert request_id in run.output
    assert "capacity-not-available" in run.output

    monkeypatch.setattr(SpotInstanceRequest, "__init__", original)
    gone = lab.teardown().ok()
    assert gone.calls.count("CancelSpotInstanceRequests") == 1
    assert lab.requests("stuck") == []
