"""disposable.disco.ec2_tags_bulk run by ansible against moto: one CreateTags for many ids, idempotent, check mode."""

from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = pytest.mark.slow


def tag(env, ids, *extra):
    args = json.dumps({"resource_ids": ids, "tags": {"disposabledisco": "alpha", "disco-role": "slave"}})
    result = subprocess.run(
        ["ansible", "localhost", "-m", "disposable.disco.ec2_tags_bulk", "-a", args, "-o", *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.split("=>", 1)[1])


def test_tags_many_instances_in_one_call_and_only_once(moto, ansible_env):
    env = {**ansible_env, **moto.env}
    ec2 = moto.client("ec2")
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-12c6146b", MinCount=5, MaxCount=5)["Instances"]]
    ec2.create_tags(
        Resources=ids[:1], Tags=[{"Key": "disposabledisco", "Value": "alpha"}, {"Key": "disco-role", "Value": "slave"}]
    )
    moto.start_recording()

    checked = tag(env, ids, "--check")
    assert checked["changed"] is True and checked["tagged"] == sorted(ids[1:])
    assert "CreateTags" not in moto.calls()

    moto.start_recording()
    done = tag(env, ids)
    assert done["changed"] is True and done["tagged"] == sorted(ids[1:])
    assert moto.call_counts()["CreateTags"] == 1
    for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for instance in reservation["Instances"]:
            assert {t["Key"]: t["Value"] for t in instance["Tags"]}["disco-role"] == "slave"

    moto.start_recording()
    again = tag(env, ids)
    assert again["changed"] is False and again["tagged"] == []
    assert moto.calls() == ["DescribeTags"]
