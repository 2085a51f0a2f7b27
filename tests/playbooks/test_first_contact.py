"""First contact over real SSH: host keys by instance id, the jump through the master, the unreachable-node policy.

sshd runs in containers of the local node image started here (the image's sshd as the container's only process,
with a throwaway host key), published on 127.0.0.1; a node that never answers is a closed port of 127.0.0.1.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2_observe import ssh_common_args
from ansible_collections.disposable.disco.plugins.plugin_utils.ssh_wait import wait_for_ssh
from ec2lab import base_config, by_role

pytestmark = pytest.mark.slow

IMAGE = "disposable-disco/ec2-node:trixie"
SSHD = (
    "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -o HostKey=/keys/host_key"
    " -o AuthorizedKeysFile=/keys/authorized_keys -o StrictModes=no -o PermitRootLogin=prohibit-password"
)


@dataclass
class Sshd:
    name: str
    port: int  # on 127.0.0.1
    address: str  # the container's own address, reachable from the other containers
    host_key: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (
        not shutil.which("docker")
        or subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode
    ):
        pytest.fail(f"these tests need docker and the image {IMAGE} (make images)")
    return tmp_path_factory.mktemp("first-contact")


@pytest.fixture(scope="module")
def client_key(workdir: Path) -> Path:
    return keygen(workdir / "client_key")


@pytest.fixture()
def start_sshd(workdir: Path, client_key: Path) -> Iterator[Callable[..., Sshd]]:
    """Start an sshd container with a new host key, on a given (or a free) port of 127.0.0.1; removed after the test."""
    started: list[str] = []

    def start(port: int | None = None) -> Sshd:
        name = f"ssh-first-contact-{uuid.uuid4().hex[:8]}"
        keys = workdir / name
        keys.mkdir()
        keygen(keys / "host_key")
        (keys / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
        port = port or free_port()
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--rm",
                "--name",
                name,
                "-p",
                f"127.0.0.1:{port}:22",
                "-v",
                f"{keys}:/keys:ro",
                "--entrypoint",
                "/bin/sh",
                IMAGE,
                "-c",
                SSHD,
            ],
            check=True,
            capture_output=True,
        )
        started.append(name)
        address = subprocess.run(
            ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for _attempt in range(100):
            probe = subprocess.run(
                ["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True, check=False
            )
            if "ssh-ed25519" in probe.stdout:
                break
            time.sleep(0.2)
        return Sshd(name, port, address, keys / "host_key")

    yield start
    for name in started:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def stop(sshd: Sshd) -> None:
    subprocess.run(["docker", "rm", "-f", sshd.name], check=True, capture_output=True)


def contact(instance_id: str, host: str, port: int, args: str, key: Path, timeout: float = 5):
    """wait_for_ssh for one node as root with the client key; returns the outcome and the progress lines."""
    node = {"name": instance_id, "host": host, "port": port, "user": "root", "private_key_file": str(key)}
    node["ssh_args"] = args
    lines: list[str] = []
    return wait_for_ssh([node], timeout=timeout, interval=1, connect_timeout=3, progress=lines.append), lines


def known_aliases(known_hosts: Path) -> list[str]:
    return [line.split()[0] for line in known_hosts.read_text().splitlines() if line.strip()]


def fingerprint_line(host_key: Path) -> str:
    return Path(f"{host_key}.pub").read_text().split()[1]


def test_host_keys_are_known_by_instance_id(start_sshd, client_key, tmp_path):
    known = tmp_path / "known_hosts"

    def by_id(instance_id: str, port: int, timeout: float = 5):
        return contact(instance_id, "127.0.0.1", port, ssh_common_args(instance_id, str(known)), client_key, timeout)

    first = start_sshd()
    outcome = by_id("i-0aaaaaaaaaaaaaaa1", first.port)[0]
    assert outcome.answered == ["i-0aaaaaaaaaaaaaaa1"] and not outcome.silent and not outcome.refused
    assert known_aliases(known) == ["i-0aaaaaaaaaaaaaaa1"], "accepted on first sight, under the instance id"
    assert fingerprint_line(first.host_key) in known.read_text()

    # A new instance at the same address and port, with its own host key: a new host, no mismatch.
    stop(first)
    second = start_sshd(first.port)
    outcome = by_id("i-0bbbbbbbbbbbbbbb2", second.port)[0]
    assert outcome.answered == ["i-0bbbbbbbbbbbbbbb2"], outcome
    assert known_aliases(known) == ["i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"]

    # The first instance's id answering with another key: refused at once, never retried, the file unchanged.
    before = known.read_text()
    started = time.monotonic()
    outcome = by_id("i-0aaaaaaaaaaaaaaa1", second.port, timeout=30)[0]
    assert outcome.refused == {"i-0aaaaaaaaaaaaaaa1": outcome.refused["i-0aaaaaaaaaaaaaaa1"]} and not outcome.answered
    assert "Host key verification failed" in outcome.refused["i-0aaaaaaaaaaaaaaa1"]
    assert outcome.polls == 1 and time.monotonic() - started < 15
    assert known.read_text() == before


@pytest.fixture()
def agent(client_key: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An ssh-agent holding the client key: the jump's own ssh (a ProxyCommand) finds the key there, as a user's."""
    socket_path = client_key.parent / f"agent-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    for _attempt in range(50):
        if socket_path.exists():
            break
        time.sleep(0.1)
    monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
    subprocess.run(["ssh-add", "-q", str(client_key)], check=True)
    yield
    process.terminate()
    process.wait()


def test_slave_through_the_master_both_keys_by_instance_id(start_sshd, client_key, agent, tmp_path):
    known = tmp_path / "known_hosts"
    master, slave = start_sshd(), start_sshd()
    args = ssh_common_args("i-0slave00000000001", str(known), ("root", "127.0.0.1", "i-0master0000000001", master.port))
    # The slave's own address is reachable only from the master's side (the containers' network), as a private one.
    outcome = contact("i-0slave00000000001", slave.address, 22, args, client_key)[0]
    assert outcome.answered == ["i-0slave00000000001"], outcome
    assert sorted(known_aliases(known)) == ["i-0master0000000001", "i-0slave00000000001"]
    lines = dict(line.split(maxsplit=1) for line in known.read_text().splitlines())
    assert fingerprint_line(master.host_key) in lines["i-0master0000000001"]
    assert fingerprint_line(slave.host_key) in lines["i-0slave00000000001"]


def test_a_silent_node_is_named_while_waiting_and_returned(client_key, tmp_path):
    closed = free_port()
    args = ssh_common_args("i-0silent000000001", str(tmp_path / "known_hosts"))
    started = time.monotonic()
    outcome, lines = contact("i-0silent000000001", "127.0.0.1", closed, args, client_key, timeout=3)
    assert outcome.silent and "Connection refused" in outcome.silent["i-0silent000000001"]
    assert 3 <= time.monotonic() - started < 15, "bounded by the timeout"
    assert lines and all("still silent: i-0silent000000001" in line for line in lines)


def launch_config(name: str, slaves: int, known_hosts: Path, **role_hostvars: dict) -> dict:
    """A cluster of 1 + ``slaves`` whose nodes are reached as ``role_hostvars`` (master, slave) say, 10 s to answer."""
    return {
        **base_config(name),
        "disco_num_slaves": slaves,
        "disco_ssh_timeout": 10,
        "disco_ec2_known_hosts": str(known_hosts),
        "disco_ec2_role_hostvars": role_hostvars,
    }


def answering(sshd: Sshd, key: Path) -> dict:
    """Host variables reaching a node at one of the test's sshd's, as root with the test's key."""
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": sshd.port,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
    }


def test_a_silent_slave_is_replaced_once_then_the_run_fails_naming_it(lab, start_sshd, client_key, tmp_path):
    """launch.yml with a master that answers and slaves that never do: the policy of docs/provisioning.md."""
    master = start_sshd()
    known = tmp_path / "known_hosts"
    lab.config = launch_config(
        "silent",
        1,
        known,
        master=answering(master, client_key),
        slave={"ansible_host": "127.0.0.1", "ansible_port": free_port()},
    )
    run = lab.playbook("playbooks/launch.yml")
    assert run.returncode != 0, run.output
    assert run.calls.count("CreateFleet") == 3, run.calls  # master, slave, and the slave's replacement only
    assert run.calls.count("TerminateInstances") == 2, run.calls  # the slave, then its replacement
    slaves = by_role(lab.instances("silent", states=("pending", "running", "shutting-down", "terminated")), "slave")
    assert len(slaves) == 2 and all(s["State"]["Name"] in ("shutting-down", "terminated") for s in slaves)
    first, second = sorted(slaves, key=lambda s: s["LaunchTime"])
    (alive,) = by_role(lab.instances("silent"), "master")
    assert lab.instances("silent") == [alive], "only the master, which answered, is left running"
    assert f"still silent: {first['InstanceId']} (slave 127.0.0.1)" in run.output
    text = " ".join(run.output.split())  # YAML output wraps long lines
    assert f"{first['InstanceId']} (slave/default, 127.0.0.1): ssh: connect to host 127.0.0.1" in text
    assert "did not answer SSH within 10s (disco_ssh_timeout); terminating and replacing them once" in text
    failure = text[text.index("the replacement node(s) did not answer SSH") :]
    assert second["InstanceId"] in failure and first["InstanceId"] not in failure
    assert "Make the nodes a cluster" not in run.output, "nothing connects to the nodes after a failed first contact"
    assert known_aliases(known) == [alive["InstanceId"]], "the master's key, by its instance id"

    gone = lab.teardown().ok()
    assert lab.instances("silent") == [] and not known.exists(), gone.output


def test_a_changed_host_key_of_the_same_instance_fails_the_launch_naming_it(lab, start_sshd, client_key, tmp_path):
    """First contact through launch.yml records the master's key; the same instance with another key is refused."""
    master = start_sshd()
    known = tmp_path / "known_hosts"
    lab.config = launch_config("rekeyed", 0, known, master=answering(master, client_key))
    # The provisioning with the inventory for a configure phase (not run here): first contact runs.
    add_hosts = ("--tags", "provision", "-e", "disco_ec2_add_hosts=true")
    first = lab.playbook("playbooks/launch.yml", *add_hosts).ok()
    (node,) = lab.instances("rekeyed")
    assert known_aliases(known) == [node["InstanceId"]]
    assert "still silent" not in first.output

    stop(master)
    start_sshd(master.port)  # the same instance (same id, same address) now shows another host key
    run = lab.playbook("playbooks/launch.yml", *add_hosts)
    text = " ".join(run.output.split())
    assert run.returncode != 0
    assert f"ssh refused the host key of {node['InstanceId']}, which differs from the key each showed before" in text
    assert "Host key verification failed" in text
    assert "TerminateInstances" not in run.calls and "CreateFleet" not in run.calls
    assert [i["InstanceId"] for i in lab.instances("rekeyed")] == [node["InstanceId"]]
    lab.teardown().ok()


def test_a_silent_master_in_front_of_the_slaves_is_the_only_one_replaced(lab, tmp_path):
    """With disco_ssh_via_master the slaves cannot be judged while the master is silent: only the master goes."""
    lab.config = launch_config(
        "headless",
        1,
        tmp_path / "known_hosts",
        master={"ansible_host": "127.0.0.1", "ansible_port": free_port()},
        # the slave's own hop would go to the master's (moto) address: here a closed port of 127.0.0.1 instead
        slave={"ansible_host": "127.0.0.1", "ansible_port": free_port(), "ansible_ssh_common_args": ""},
    )
    lab.config["disco_ssh_via_master"] = True
    run = lab.playbook("playbooks/launch.yml")
    assert run.returncode != 0
    assert run.calls.count("TerminateInstances") == 2 and run.calls.count("CreateFleet") == 3, run.calls
    everything = lab.instances("headless", states=("pending", "running", "shutting-down", "terminated"))
    masters = sorted(by_role(everything, "master"), key=lambda i: i["LaunchTime"])
    (slave,) = by_role(everything, "slave")
    assert len(masters) == 2 and all(m["State"]["Name"] in ("shutting-down", "terminated") for m in masters)
    assert slave["State"]["Name"] == "running", "the slave behind the silent master is kept (tagged, in the cluster)"
    text = " ".join(run.output.split())
    assert "Cluster headless: 1 node(s) did not answer SSH" in text and f"{masters[0]['InstanceId']} (master, " in text
    failure = text[text.index("the replacement node(s) did not answer SSH") :]
    assert masters[1]["InstanceId"] in failure and slave["InstanceId"] not in failure
    lab.teardown().ok()
