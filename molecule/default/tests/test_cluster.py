"""The cluster configure.yml made: master, slave1, slave2 after converge; master, slave1, slave3 after the side effect.

The side effect leaves its inventory in the ephemeral directory; when it is there the tests check those nodes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import testinfra
import yaml
from testinfra.host import Host

CONFIG = yaml.safe_load((Path(__file__).parent.parent / "inventory" / "group_vars" / "all.yml").read_text())
MGMT_KEY = CONFIG["disco_mgmt_keys"][0]
COOKIE = "/home/disco/.erlang.cookie"
RELEASE = os.environ.get("DISCO_MOLECULE_RELEASE", "trixie")
SIDE_EFFECT = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "side-effect" / "hosts.yml"

if SIDE_EFFECT.exists():
    INVENTORY = str(SIDE_EFFECT)
    groups = yaml.safe_load(SIDE_EFFECT.read_text())["all"]["children"]
    NODES = [*groups["disco_master"]["hosts"], *groups["disco_slaves"]["hosts"]]
    REMOVED = ["slave2"]
    POST_INIT_RUNS = {name: ["v2"] if name == "slave3" else ["v1", "v2"] for name in NODES}
else:
    INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
    NODES = ["master", "slave1", "slave2"]
    REMOVED = []
    POST_INIT_RUNS = {name: ["v1"] for name in NODES}


@pytest.fixture(scope="module")
def nodes() -> dict[str, Host]:
    return {name: testinfra.get_host(f"ansible://{name}", ansible_inventory=INVENTORY) for name in NODES}


@pytest.fixture(params=NODES)
def node(request: pytest.FixtureRequest, nodes: dict[str, Host]) -> Host:
    return nodes[request.param]


def address(node: Host) -> str:
    return node.interface("eth0").addresses[0]


@pytest.mark.parametrize("package", ["python3-pip", "python3-dev", "python3-venv", "jq", "python3-six"])
def test_packages_installed(node: Host, package: str) -> None:
    assert node.package(package).is_installed


def test_no_time_sync_daemon_in_a_container(node: Host) -> None:
    assert not node.package("chrony").is_installed


def test_pip_requirement_imported_by_system_python3(node: Host) -> None:
    out = node.check_output(
        "runuser -u disco -- /usr/bin/python3 -c "
        "'import six, tabulate; print(tabulate.__version__, tabulate.__file__, six.__file__)'"
    )
    version, tabulate_file, six_file = out.split()
    assert version == "0.9.0"
    assert tabulate_file.startswith("/opt/disco-jobs/venv/")
    assert six_file.startswith("/usr/lib/python3/dist-packages/")  # apt's packages stay first


def test_job_helpers_imported_by_system_python3(node: Host) -> None:
    out = node.check_output("runuser -u disco -- /usr/bin/python3 -c 'import disco_s3; print(disco_s3.__file__)'")
    assert out == "/usr/lib/python3/dist-packages/disco_s3/__init__.py"  # role disco_jobtools


def test_node_booted_like_an_ec2_instance_of_the_release(node: Host) -> None:
    """systemd is PID 1 and running, cloud-init processed the user data, made the host keys and the admin user."""
    assert node.check_output("cat /proc/1/comm") == "systemd"
    assert node.run("systemctl is-system-running").stdout.strip() == "running"
    assert (
        f'VERSION_ID="{ {"bookworm": "12", "trixie": "13"}[RELEASE] }"' in node.file("/etc/os-release").content_string
    )
    assert "status: done" in node.check_output("cloud-init status")
    assert "cluster=default\n" in node.file("/etc/disposable-disco/node").content_string
    assert node.user("admin").exists and "sudo" in node.user("admin").groups
    assert node.service("ssh").is_running


def test_system_python_still_externally_managed(node: Host) -> None:
    # The release's own python3: 3.11 on Debian 12, 3.13 on Debian 13.
    version = node.check_output("/usr/bin/python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    assert version == {"bookworm": "3.11", "trixie": "3.13"}[RELEASE]
    assert node.file(f"/usr/lib/python{version}/EXTERNALLY-MANAGED").exists
    assert node.check_output(f"ls /usr/local/lib/python{version}/dist-packages").split() == [
        "disposable-disco-jobs.pth"
    ]


def test_disco_account_and_directories(node: Host) -> None:
    user = node.user("disco")
    assert user.exists
    assert user.home == "/home/disco"
    assert user.shell == "/bin/bash"
    for directory in ("/srv/disco", "/srv/disco/data", "/srv/disco/ddfs", "/srv/disco/log", "/srv/disco/run"):
        d = node.file(directory)
        assert d.is_directory
        assert d.user == "disco"


@pytest.mark.parametrize("user", ["disco", "admin"])
def test_management_key_authorised(node: Host, user: str) -> None:
    keys = node.file(f"/home/{user}/.ssh/authorized_keys")
    assert keys.user == user
    assert keys.mode == 0o600
    assert MGMT_KEY in keys.content_string.splitlines()


def test_cookie_identical_and_private(nodes: dict[str, Host]) -> None:
    sums = set()
    for node in nodes.values():
        cookie = node.file(COOKIE)
        assert cookie.user == "disco"
        assert cookie.mode == 0o400
        assert node.run(f"grep -qxE '[A-Z]{{20}}' {COOKIE}").rc == 0  # checked on the node, never printed
        sums.add(cookie.sha256sum)
    assert len(sums) == 1


@pytest.mark.parametrize("target", NODES)
def test_master_reaches_every_node_over_ssh_with_host_key_checking(nodes: dict[str, Host], target: str) -> None:
    result = nodes["master"].run(
        f"runuser -u disco -- ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 {target} hostname"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == target


def test_known_hosts_holds_the_nodes_own_host_keys(nodes: dict[str, Host]) -> None:
    known = nodes["master"].file("/home/disco/.ssh/known_hosts").content_string.splitlines()
    keys = set()
    for name, node in nodes.items():
        key = " ".join(node.file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2])
        assert f"{name},{address(node)} {key}" in known
        keys.add(key)
    assert len(keys) == len(nodes)  # each node has its own (prepare replaced the image's)
    for removed in REMOVED:
        assert not any(removed in line for line in known)


def test_only_the_master_holds_the_cluster_key(nodes: dict[str, Host]) -> None:
    public = nodes["master"].file("/home/disco/.ssh/id_ed25519.pub").content_string.strip()
    for name, node in nodes.items():
        assert node.file("/home/disco/.ssh/id_ed25519").exists == (name == "master")
        assert public in node.file("/home/disco/.ssh/authorized_keys").content_string.splitlines()


def test_every_node_resolves_every_name_from_etc_hosts(nodes: dict[str, Host]) -> None:
    addresses = {name: address(node) for name, node in nodes.items()}
    for node in nodes.values():
        for name, ip in addresses.items():
            assert node.check_output(f"getent -s files hosts {name}").split()[0] == ip
        hosts = node.file("/etc/hosts").content_string
        for removed in REMOVED:
            assert removed not in hosts  # the removed node's entry is gone
        assert not re.search(r"(?m)^127\.\S*\s.*\b(master|slave\d)\b", hosts)


def test_post_init_ran_once_per_version(node: Host) -> None:
    name = node.check_output("hostname")
    role = "master" if name == "master" else "slave"
    versions = POST_INIT_RUNS[name]
    runs = node.file("/root/post-init-runs").content_string.splitlines()
    assert runs == [f"post-init {v} {name} {role} master=master" for v in versions]
    log = node.file("/var/log/disco-post-init.log").content_string
    assert log.count("disposable.disco POST_INIT") == len(versions)
    assert node.file("/var/lib/disco-post-init/done.sha256").mode == 0o600
