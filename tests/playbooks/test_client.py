"""playbooks/client.yml against moto (issue 15): without a running master it fails, naming the cluster, having
changed nothing in EC2 and written no client file; teardown.yml of a cluster without a client changes nothing of
this machine's. The client itself (library, venv, tunnel, env file, a job from the laptop) runs in the end-to-end
test against the local cloud, whose master is a real one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ec2lab import base_config

pytestmark = pytest.mark.slow

NAME = "client-alpha"


def flat(output: str) -> str:
    return re.sub(r"\s+", " ", output).replace("''", "'")


def client_dir(home: str, name: str) -> Path:
    return Path(home) / ".cache/disposable-disco/clusters" / name


def test_client_without_a_running_master_fails_naming_the_cluster(lab):
    lab.config = base_config(NAME)
    run = lab.playbook("playbooks/client.yml")
    assert run.returncode != 0
    expected = f"Cluster {NAME} has no running master in us-east-1 (no master instance is pending or running)"
    assert expected in flat(run.output), run.output[-3000:]
    assert "playbooks/launch.yml" in run.output
    assert run.mutating_calls == [], run.calls
    assert not (client_dir(lab.env["HOME"], NAME) / "env").exists()


def test_client_of_a_master_that_is_not_running_says_its_state(lab):
    lab.config = base_config(NAME)
    lab.launch().ok()
    master = [i for i in lab.instances(NAME) if {"Key": "disco-role", "Value": "master"} in i.get("Tags", [])]
    assert master, lab.instances(NAME)
    lab.ec2().stop_instances(InstanceIds=[master[0]["InstanceId"]])
    run = lab.playbook("playbooks/client.yml")
    assert run.returncode != 0
    assert f"Cluster {NAME} has no running master in us-east-1" in flat(run.output), run.output[-3000:]
    assert run.mutating_calls == [], run.calls
    lab.teardown().ok()
