"""The local cloud's pure helpers: AMI name to release, user data decoding, NoCloud meta-data."""

from __future__ import annotations

import base64

import yaml
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import user_data
from ansible_collections.disposable.disco.plugins.module_utils.disco_localcloud import (
    DEFAULT_RELEASE_PATTERNS,
    boot_info,
    decode_user_data,
    meta_data,
    release_of_image,
)


def test_release_of_debian_ami_names() -> None:
    patterns = DEFAULT_RELEASE_PATTERNS
    assert release_of_image("debian-12-amd64-20240717-1811", patterns, "trixie") == ("bookworm", True)
    assert release_of_image("debian-13-arm64-20251117-2300", patterns, "bookworm") == ("trixie", True)
    assert release_of_image("debian-12-backports-amd64-x", patterns, "trixie") == ("bookworm", True)
    assert release_of_image("my-debian-12-copy", patterns, "trixie") == ("trixie", False)
    assert release_of_image("", patterns, "bookworm") == ("bookworm", False)
    assert release_of_image(None, patterns, "trixie") == ("trixie", False)


def test_user_data_decoding() -> None:
    assert decode_user_data(None) == ""
    assert decode_user_data("") == ""
    assert decode_user_data(base64.b64encode(b"#cloud-config\n").decode()) == "#cloud-config\n"


def test_meta_data_is_yaml_cloud_init_reads() -> None:
    parsed = yaml.safe_load(meta_data("i-0abc", "ip-10-0-0-5", ["ssh-ed25519 AAAA key\n"]))
    assert parsed == {"instance-id": "i-0abc", "local-hostname": "ip-10-0-0-5", "public-keys": ["ssh-ed25519 AAAA key"]}
    assert "public-keys" not in yaml.safe_load(meta_data("i-0abc", "h", []))


def test_the_user_data_we_send_is_a_valid_cloud_config() -> None:
    text = user_data("c1", "slave", "g1")
    assert text.startswith("#cloud-config\n")
    config = yaml.safe_load(text)
    assert config["write_files"][0]["path"] == "/etc/disposable-disco/node"
    assert config["write_files"][0]["content"] == "cluster=c1\nrole=slave\ngroup=g1\n"


def test_boot_info_of_an_instance() -> None:
    instance = {"InstanceId": "i-1", "ImageId": "ami-1", "PrivateDnsName": "ip-10-0-0-7.ec2.internal"}
    info = boot_info(
        instance,
        {"Name": "debian-13-amd64-x"},
        base64.b64encode(b"x").decode(),
        None,
        DEFAULT_RELEASE_PATTERNS,
        "bookworm",
    )
    assert info["release"] == "trixie" and info["hostname"] == "ip-10-0-0-7" and info["user_data"] == "x"
    assert (
        boot_info({"InstanceId": "i-2"}, None, None, None, DEFAULT_RELEASE_PATTERNS, "bookworm")["release"]
        == "bookworm"
    )
