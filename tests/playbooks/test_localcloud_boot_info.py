"""disco_localcloud_boot_info against moto: the release of each instance comes from its AMI's name.

Images named as Debian names its official AMIs are registered in moto (RegisterImage), instances run from them
and from an AMI moto does not know, with user data; the module, run by ansible-playbook as the local cloud runs it,
must map debian-12-* to bookworm, debian-13-* to trixie, anything else to the default release, and return the
instance's own user data and key pair as the NoCloud seed.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from support.motoserver import MotoServer

pytestmark = pytest.mark.slow

PLAY = """
- name: Read the boot info
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read
      disposable.disco.disco_localcloud_boot_info:
        instance_ids: "{{ ids }}"
        default_release: "{{ default_release }}"
        endpoint_url: "{{ endpoint }}"
        region: us-east-1
        access_key: "{{ access_key }}"
        secret_key: "{{ secret_key }}"
      register: boot
    - name: Write it
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ boot.instances | to_json }}"
        mode: "0600"
"""


def register(ec2, name: str) -> str:
    return ec2.register_image(
        Name=name,
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        VirtualizationType="hvm",
    )["ImageId"]


def run(ec2, image_id: str, user_data: str, key_name: str | None = None) -> str:
    extra = {"KeyName": key_name} if key_name else {}
    return ec2.run_instances(
        ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="m5.large", UserData=user_data, **extra
    )["Instances"][0]["InstanceId"]


@pytest.mark.parametrize("default_release", ["trixie", "bookworm"])
def test_release_from_the_ami_name_and_the_seed_from_the_instance(
    moto: MotoServer, ansible_env: dict[str, str], tmp_path: Path, default_release: str
) -> None:
    ec2 = moto.client("ec2")
    bookworm = register(ec2, "debian-12-amd64-20260101-2000")
    trixie = register(ec2, "debian-13-amd64-20261101-2200")
    other = register(ec2, "ubuntu-noble-24.04-amd64-server-20260101")
    key = ec2.create_key_pair(KeyName="disco-test")
    public = ec2.describe_key_pairs(KeyNames=["disco-test"], IncludePublicKey=True)["KeyPairs"][0]["PublicKey"]
    ids = {
        "bookworm": run(ec2, bookworm, "#cloud-config\n# bookworm\n", key["KeyName"]),
        "trixie": run(ec2, trixie, "#cloud-config\n# trixie\n"),
        "other": run(ec2, other, "#cloud-config\n# other\n"),
        "unknown": run(ec2, "ami-0123456789abcdef0", "#!/bin/sh\necho unknown\n"),
    }
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    out = tmp_path / "out.json"
    variables = {
        "ids": list(ids.values()),
        "default_release": default_release,
        "endpoint": moto.url,
        "access_key": moto.env["AWS_ACCESS_KEY_ID"],
        "secret_key": moto.env["AWS_SECRET_ACCESS_KEY"],
        "out": str(out),
    }
    result = subprocess.run(
        ["ansible-playbook", str(play), "-e", json.dumps(variables)],
        env=ansible_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = {entry["instance_id"]: entry for entry in json.loads(out.read_text())}
    assert list(found) == list(ids.values()), "one entry per instance, in order"
    by_name = {name: found[instance_id] for name, instance_id in ids.items()}
    assert (by_name["bookworm"]["release"], by_name["bookworm"]["release_matched"]) == ("bookworm", True)
    assert (by_name["trixie"]["release"], by_name["trixie"]["release_matched"]) == ("trixie", True)
    assert (by_name["other"]["release"], by_name["other"]["release_matched"]) == (default_release, False)
    assert (by_name["unknown"]["release"], by_name["unknown"]["image_name"]) == (default_release, "")
    assert by_name["bookworm"]["image_name"] == "debian-12-amd64-20260101-2000"
    # The seed: the instance's own user data, as EC2 (moto) holds it, and meta-data with its id, name and key.
    assert by_name["bookworm"]["user_data"] == "#cloud-config\n# bookworm\n"
    assert by_name["unknown"]["user_data"] == "#!/bin/sh\necho unknown\n"
    meta = by_name["bookworm"]["meta_data"]
    assert f"instance-id: {ids['bookworm']}\n" in meta
    assert f"local-hostname: {by_name['bookworm']['hostname']}\n" in meta
    assert f"  - {public.strip()}" in meta
    assert "public-keys" not in by_name["trixie"]["meta_data"], "no key pair, no key"
    assert (
        base64.b64decode(
            ec2.describe_instance_attribute(InstanceId=ids["trixie"], Attribute="userData")["UserData"]["Value"]
        ).decode()
        == by_name["trixie"]["user_data"]
    )
