"""Bad configurations are refused by the real `ansible-playbook playbooks/launch.yml` before any EC2 call.

Each case runs the command users type, against a moto server that records every AWS call, and checks that
the run fails, that the message names the field, that no AWS call was made, and that no secret was printed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ec2lab import run_in_repo

REPO = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((REPO / "examples/config.json").read_text())
NATIVE = {"disco_ami": "ami-0123456789abcdef0", "disco_ssh_cidrs": ["203.0.113.7/32"]}
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzEXAMPLE"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n"
)


def legacy(**changes):
    config = dict(SAMPLE, AWS_SECRET=SECRET)
    for key, value in changes.items():
        if value is DROP:
            config.pop(key)
        else:
            config[key] = value
    return config


def native(**changes):
    return {**NATIVE, **changes}


DROP = object()

# (case id, configuration, text the error must contain: the field's name, plus the expected form where useful)
BAD = [
    (
        "bucket-name-form",
        native(disco_instance_profile="create", disco_s3_buckets=["My_Bucket"]),
        "disco_s3_buckets: item 1 must be an S3 bucket name",
    ),
    (
        "bucket-ip-form",
        native(disco_instance_profile="create", disco_s3_read_buckets=["10.1.2.3"]),
        "disco_s3_read_buckets: item 1 must be an S3 bucket name",
    ),
    (
        "buckets-without-create",
        native(disco_s3_buckets=["results"]),
        "disco_s3_buckets: is only used with disco_instance_profile: create",
    ),
    (
        "create-without-buckets",
        native(disco_instance_profile="create"),
        "disco_instance_profile: create makes a role allowed on S3 buckets",
    ),
    (
        "profile-name-form",
        native(disco_instance_profile="my profile"),
        "disco_instance_profile: must be the name of an existing IAM instance profile",
    ),
    ("negative-count", legacy(NUM_SLAVES=-1), "NUM_SLAVES: must be a whole number"),
    ("fractional-count", legacy(NUM_SLAVES=2.5), "NUM_SLAVES: must be a whole number"),
    ("word-count", legacy(NUM_SLAVES="many"), "NUM_SLAVES: must be a whole number"),
    ("boolean-count", legacy(NUM_SLAVES=True), "NUM_SLAVES: must be a whole number"),
    ("negative-bid", legacy(MAX_BID="-0.04"), "MAX_BID: must be a positive decimal price"),
    ("zero-bid", legacy(MAX_BID="0"), "MAX_BID: must be a positive decimal price"),
    ("word-bid", legacy(MAX_BID="cheap"), "MAX_BID: must be a positive decimal price"),
    ("dollar-bid", legacy(MAX_BID="$0.04"), "MAX_BID: must be a positive decimal price"),
    ("malformed-ami", legacy(AMI="ami-xyz"), "AMI: must be an AMI id such as ami-"),
    ("ami-without-prefix", legacy(AMI="6d3f9704"), "AMI: must be an AMI id"),
    ("empty-ami", legacy(AMI=""), "AMI: is required: an AMI id such as ami-0123456789abcdef0, or debian-13"),
    ("unknown-debian-release", native(disco_ami="debian-11"), "disco_ami: must be an AMI id such as ami-"),
    ("bad-instance-type-in-list", native(disco_instance_type=["m5.large", "huge"]), "disco_instance_type: item 2"),
    ("empty-instance-type-list", native(disco_instance_type=[]), "disco_instance_type: must list at least one"),
    (
        "empty-group-type-list",
        native(disco_slave_groups=[{"name": "a", "count": 1, "instance_type": []}]),
        "disco_slave_groups[1].instance_type: must list at least one instance type",
    ),
    ("bad-subnet-id", native(disco_subnet_ids=["subnet-12"]), "disco_subnet_ids: item 1 must be a subnet id"),
    ("bad-spot-fallback", native(disco_capacity_fallback="wait"), "disco_capacity_fallback"),
    (
        "no-public-ip-and-no-way-in",
        native(disco_public_ip=False),
        "disco_public_ip: is false, so the nodes get no public address and nothing could reach them",
    ),
    ("bad-jump-host", native(disco_ssh_jump_host="bastion.example.org"), "disco_ssh_jump_host: must be an SSH bastion"),
    (
        "public-ip-not-a-bool",
        native(disco_public_ip="sometimes"),
        "disco_public_ip: must be true or false, got 'sometimes'",  # ours, not Ansible's conversion error
    ),
    ("num-slaves-not-a-number", native(disco_num_slaves="many"), "disco_num_slaves: must be a whole number from 0"),
    (
        "pip-requirement-with-a-shell-command",
        native(disco_pip_requirements=["iso8601; rm -rf /"]),
        "disco_pip_requirements: item 1 must be one pip requirement",
    ),
    (
        "num-slaves-beside-slave-groups",
        native(disco_num_slaves=4, disco_slave_groups=[{"name": "big", "count": 2}]),
        "disco_num_slaves: cannot be used together with disco_slave_groups",
    ),
    (
        "misspelt-variable-under-a-role-prefix",
        native(disco_ec2_endpont="http://127.0.0.1:5000"),
        "disco_ec2_endpont: not a variable of the role disco_ec2; did you mean disco_aws_endpoint?",
    ),
    (
        "subnets-not-a-list",
        native(disco_subnet_ids="subnet-12345678"),
        "disco_subnet_ids: must be a list of subnet ids",
    ),
    ("empty-tag-key", legacy(TAG_KEY=""), "TAG_KEY: must be a non-empty EC2 tag key"),
    ("reserved-tag-key", legacy(TAG_KEY="aws:cluster"), "TAG_KEY: must be an EC2 tag key"),
    ("typo-legacy-key", legacy(NUM_SLAVE=3), "NUM_SLAVE: unknown key; did you mean NUM_SLAVES?"),
    (
        "typo-instance-type-key",
        legacy(INSTANCE_TYP="c5.large"),
        "INSTANCE_TYP: unknown key; did you mean INSTANCE_TYPE?",
    ),
    ("mgmt-key-not-a-key", legacy(MGMT_KEY="hello world\n"), "MGMT_KEY: line 1 must be an OpenSSH public key"),
    ("mgmt-key-private", legacy(MGMT_KEY=PRIVATE_KEY), "MGMT_KEY: line 1 holds a PRIVATE key"),
    ("mgmt-key-a-path", legacy(MGMT_KEY="~/.ssh/id_rsa.pub"), "MGMT_KEY: line 1 must be an OpenSSH public key"),
    ("bad-instance-type", legacy(INSTANCE_TYPE="C1 Medium"), "INSTANCE_TYPE: must be an EC2 instance type"),
    ("negative-master-multiplier", legacy(MASTER_MULTIPLIER=-1), "MASTER_MULTIPLIER: must be a whole number from 0"),
    ("zero-slave-multiplier", legacy(SLAVE_MULTIPLIER=0), "SLAVE_MULTIPLIER: must be a whole number from 1"),
    ("groups-not-a-list", legacy(SECURITY_GROUPS="disco"), "SECURITY_GROUPS: must be a list of security group names"),
    ("bad-package-name", legacy(ADDITIONAL_PACKAGES=["git; rm -rf /"]), "ADDITIONAL_PACKAGES: item 1 must be a Debian"),
    ("pip-not-a-list", legacy(PIP_REQUIREMENTS="iso8601"), "PIP_REQUIREMENTS: must be a list of pip requirements"),
    ("secret-without-access", legacy(AWS_ACCESS=DROP), "AWS_ACCESS: is missing: AWS keys go in pairs"),
    ("secret-with-spaces", legacy(AWS_SECRET="two words"), "AWS_SECRET: must be a single word"),
    ("legacy-and-native-disagree", legacy(disco_num_slaves=5), "NUM_SLAVES: is set and so is disco_num_slaves"),
    ("bad-region", native(disco_region="Europe"), "disco_region: must be an AWS region such as us-east-1"),
    ("bad-market", native(disco_master_market="reserved"), "disco_master_market"),
    ("bad-cidr", native(disco_ssh_cidrs=["10.0.0.0/33"]), "disco_ssh_cidrs: item 1 must be an IPv4 or IPv6 CIDR"),
    ("ssh-timeout-too-short", native(disco_ssh_timeout=5), "disco_ssh_timeout: must be a whole number from 10 to 3600"),
    ("idle-timeout-one-minute", native(disco_idle_timeout=1), "disco_idle_timeout: must be 0 (never) or a whole"),
    ("lifetime-over-30-days", native(disco_max_lifetime=721), "disco_max_lifetime: must be 0 (never) or a number"),
    ("group-negative-count", native(disco_slave_groups=[{"name": "a", "count": -2}]), "disco_slave_groups[1].count"),
    ("group-key-typo", native(disco_slave_groups=[{"name": "a", "cnt": 2}]), "disco_slave_groups[1].cnt: unknown key"),
    (
        "group-duplicate-names",
        native(disco_slave_groups=[{"name": "a", "count": 1}, {"name": "a", "count": 2}]),
        "disco_slave_groups[2].name: 'a' is used by another group",
    ),
    ("typo-native-key", native(disco_num_slavs=3), "disco_num_slavs: unknown setting; did you mean disco_num_slaves?"),
    ("bad-cluster-name", native(disco_cluster_name="My Cluster"), "disco_cluster_name: must be a cluster name"),
    ("endpoint-without-scheme", native(disco_aws_endpoint="localhost:5000"), "disco_aws_endpoint: must be an http"),
]


def run_playbook(playbook: str, config: dict, tmp_path: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return run_in_repo(["ansible-playbook", playbook, "-e", f"@{path}", *extra], env)


@pytest.fixture()
def env(ansible_env, moto):
    return {**ansible_env, **moto.env}


def test_the_table_has_at_least_25_cases():
    assert len(BAD) >= 25
    assert len({case[0] for case in BAD}) == len(BAD)


@pytest.mark.slow
@pytest.mark.parametrize(("config", "expected"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_config_is_refused_before_any_ec2_call(config, expected, tmp_path, env, moto):
    result = run_playbook("playbooks/launch.yml", config, tmp_path, env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert expected in output, output
    assert moto.calls() == [], "a refused configuration must not reach EC2"
    assert SECRET not in output
    assert "s3cmd" not in output, "POST_INIT must never be printed"


@pytest.mark.slow
def test_valid_sample_validates_without_printing_secrets(tmp_path, env, moto):
    config = legacy()
    env = {**env, "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}  # one line per message: no wrapping
    result = run_playbook("playbooks/validate.yml", config, tmp_path, env, "-vvv")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 master (c1.medium, spot) + 30 slave(s)" in output
    assert SECRET not in output
    assert "s3cmd" not in output
    assert moto.calls() == []


@pytest.mark.slow
@pytest.mark.parametrize("legacy_form", [False, True], ids=["native", "legacy"])
def test_create_config_output_round_trips(legacy_form, tmp_path, env, moto):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq5Mb4mVxYh0bXH9c1Jm2bT3sQ0VhVQe7l8cQ2R9Xk1 me@laptop"
    (home / ".ssh" / "id_ed25519.pub").write_text(key + "\n")
    dest = tmp_path / ("config.json" if legacy_form else "config.yml")
    env = {**env, "HOME": str(home)}
    create = ["ansible-playbook", "playbooks/create_config.yml", "-e", f"dest={dest}", "-e", f"legacy={legacy_form}"]
    result = run_in_repo(create, env, timeout=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    text = dest.read_text()
    assert key in text
    if legacy_form:
        assert set(json.loads(text)) >= {"AMI", "NUM_SLAVES", "MAX_BID", "MGMT_KEY", "TAG_KEY", "POST_INIT"}
    else:
        assert "# [NUM_SLAVES]" in text

    validate = ["ansible-playbook", "playbooks/validate.yml", "-e", f"@{dest}"]
    result = run_in_repo(validate, env, timeout=None)
    assert result.returncode == 0, result.stdout + result.stderr

    # A second run must not overwrite the user's file, unless told to.
    dest.write_text(text + "\n# edited by hand\n")
    result = run_in_repo(create, env, timeout=None)
    assert result.returncode != 0 and "exists" in result.stdout
    assert dest.read_text().endswith("# edited by hand\n")
    result = run_in_repo([*create, "-e", "force=true"], env, timeout=None)
    assert result.returncode == 0 and dest.read_text() == text
    assert moto.calls() == []


@pytest.mark.slow
def test_an_earlier_setting_name_validates_with_a_deprecation_warning(tmp_path, env, moto):
    config = native(disco_ec2_endpoint=moto.env.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"))
    result = run_playbook("playbooks/validate.yml", config, tmp_path, env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "disco_ec2_endpoint is deprecated and stops working in version 2.0.0: call it disco_aws_endpoint" in output
    assert moto.calls() == []
