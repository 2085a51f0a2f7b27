"""disco_instance_profile against moto: an unknown profile is refused before any instance starts; ``create``
makes a role, its S3 policy and an instance profile, survives EC2's propagation delay, and goes with teardown.

The real ``ansible-playbook playbooks/launch.yml --tags provision`` and ``teardown.yml`` run against the strict
stand-in, which refuses (as AWS does) an instance profile that does not exist or has not propagated yet.
"""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
import yaml
from ec2lab import TAG_KEY, base_config, tags_of
from support.motoserver import FAKE_ACCESS_KEY, FAKE_SECRET_KEY

pytestmark = pytest.mark.slow

NAME = "iamc"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq5Mb4mVxYh0bXH9c1Jm2bT3sQ0VhVQe7l8cQ2R9Xk1 me@laptop"
ROLE = f"{TAG_KEY}-{NAME}"


def config(**changes):
    settings = {**base_config(NAME), "disco_num_slaves": 1, "disco_mgmt_keys": [KEY], **changes}
    settings.pop("disco_key_name")  # no EC2 key pair: the admin user's key comes with the user data
    return settings


def test_an_unknown_instance_profile_is_refused_before_any_instance_starts(lab):
    lab.config = config(disco_instance_profile="no-such-profile")
    run = lab.launch()
    assert run.returncode != 0
    assert "disco_instance_profile: there is no IAM instance profile named no-such-profile" in run.output
    assert not {"CreateFleet", "RunInstances", "CreateLaunchTemplate"} & set(run.calls), run.calls
    assert "GetInstanceProfile" in run.calls
    assert lab.instances(NAME) == []


def test_create_makes_role_policy_and_profile_retries_propagation_and_teardown_removes_them(lab):
    lab.config = config(
        disco_instance_profile="create", disco_s3_buckets=["disco-results"], disco_s3_read_buckets=["disco-inputs"]
    )
    # EC2 refuses the new profile for 3 s (and at least once), as AWS does until IAM has propagated it
    lab.moto.delay_profiles(3, at_least=1)
    run = lab.launch().ok()
    assert FAKE_SECRET_KEY not in run.output
    iam = lab.moto.client("iam")
    role = iam.get_role(RoleName=ROLE)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(urllib.parse.unquote(trust)) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert tags_of(role)[TAG_KEY] == NAME and tags_of(role)["disco-created-by"] == "disposable.disco"
    policy = iam.get_role_policy(RoleName=ROLE, PolicyName="disposable-disco-s3")["PolicyDocument"]
    policy = json.loads(urllib.parse.unquote(policy)) if isinstance(policy, str) else policy
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert by_sid["ReadWriteObjects"]["Resource"] == ["arn:aws:s3:::disco-results/*"]
    assert "s3:PutObject" in by_sid["ReadWriteObjects"]["Action"]
    assert by_sid["ReadObjects"] == {
        "Sid": "ReadObjects",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::disco-inputs/*"],
    }
    profile = iam.get_instance_profile(InstanceProfileName=ROLE)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [ROLE]
    assert tags_of(profile)[TAG_KEY] == NAME

    # EC2 refused the young profile at least once; the fleet call was repeated and every node started.
    assert lab.moto.strict.profile_refusals >= 1
    assert run.calls.count("CreateFleet") > 2, run.calls
    assert len(lab.instances(NAME)) == 2
    ec2 = lab.ec2()
    for template in lab.launch_templates(NAME):
        data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])[
            "LaunchTemplateVersions"
        ][0]["LaunchTemplateData"]
        assert data["IamInstanceProfile"] == {"Name": ROLE}
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        assert data["MetadataOptions"]["HttpEndpoint"] == "enabled"
        assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
        assert "KeyName" not in data
        text = base64.b64decode(data["UserData"]).decode()
        assert yaml.safe_load(text)["ssh_authorized_keys"] == [KEY]
        for secret in (FAKE_SECRET_KEY, FAKE_ACCESS_KEY, "PRIVATE KEY", "cookie"):
            assert secret not in text

    rerun = lab.launch().ok()
    assert rerun.changed == 0, rerun.output
    assert rerun.mutating_calls == [], rerun.calls

    gone = lab.teardown().ok()
    assert lab.instances(NAME) == []
    assert not any(p["InstanceProfileName"] == ROLE for p in iam.list_instance_profiles()["InstanceProfiles"])
    assert not any(r["RoleName"] == ROLE for r in iam.list_roles()["Roles"])
    assert gone.calls.index("DeleteRole") > gone.calls.index("TerminateInstances")


def test_an_existing_profile_is_used_as_it_is_and_never_deleted(lab):
    iam = lab.moto.client("iam")
    iam.create_role(RoleName="mine", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    iam.create_instance_profile(InstanceProfileName="mine")
    iam.add_role_to_instance_profile(InstanceProfileName="mine", RoleName="mine")
    lab.config = {**config(disco_instance_profile="mine"), "disco_num_slaves": 0}
    lab.launch().ok()
    template = lab.launch_templates(NAME)[0]
    data = lab.ec2().describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
    assert data["LaunchTemplateVersions"][0]["LaunchTemplateData"]["IamInstanceProfile"] == {"Name": "mine"}
    run = lab.teardown().ok()
    assert not {"DeleteInstanceProfile", "DeleteRole"} & set(run.calls)
    assert iam.get_instance_profile(InstanceProfileName="mine")["InstanceProfile"]["Roles"][0]["RoleName"] == "mine"
