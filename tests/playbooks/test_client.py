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


def test_disco_suite_finds_the_master_as_the_client_does(lab):
    """playbooks/disco_suite.yml without a disco_master group: the configuration's running master (role
    disco_cloud), so no running master fails the same way, naming the cluster, before anything runs on a node."""
    lab.config = base_config(NAME)
    run = lab.playbook("playbooks/disco_suite.yml")
    assert run.returncode != 0
    assert f"Cluster {NAME} has no running master in us-east-1" in flat(run.output), run.output[-3000:]
    assert "TASK [disposable.disco.disco_suite" not in run.output, "no task of the suite ran"
    assert run.mutating_calls == [], run.calls


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


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"job": "missing.py"}, "job: {dir}/missing.py does not exist"),
        ({"job": "notajob.py"}, "job: {dir}/notajob.py defines no Disco job"),
        ({"job": "word-count.py"}, "must be NAME.py with NAME a Python identifier"),
        ({"job": "wordcount.py", "input": "ftp://example.org/x"}, "input: ftp://example.org/x: neither a local file"),
        ({"job": "wordcount.py", "input": ["texts", "nowhere.txt"]}, "input: {dir}/nowhere.txt is no local file"),
        ({"job": "wordcount.py", "output": "no/such/dir/out.tsv"}, "output: {dir}/no/such/dir/out.tsv: its directory"),
    ],
)
def test_job_with_bad_input_fails_before_anything_is_sent(lab, tmp_path, extra, message):
    """job.yml checks the job file, inputs and output first: the error names the field; no EC2 call, no client."""
    (tmp_path / "wordcount.py").write_text("def map(line, params):\n    yield line, 1\n")
    (tmp_path / "word-count.py").write_text("def map(line, params):\n    yield line, 1\n")
    (tmp_path / "notajob.py").write_text("print('hello')\n")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("a b\n")
    absolute = {
        key: ([str(tmp_path / v) for v in value] if isinstance(value, list) else str(tmp_path / value))
        if key != "input" or "://" not in str(value)
        else value
        for key, value in extra.items()
    }
    lab.config = base_config(NAME)
    run = lab.playbook("playbooks/job.yml", config=absolute)
    assert run.returncode != 0
    assert message.format(dir=tmp_path) in flat(run.output), run.output[-3000:]
    assert run.calls == [], "nothing was asked of EC2 before the job's input was checked"
    assert not (client_dir(lab.env["HOME"], NAME) / "env").exists()
