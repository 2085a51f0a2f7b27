"""First contact's pure parts: the ssh options by instance id, the ssh command of a node, the hosts' variables."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.disposable.disco.plugins.action.disco_ssh_wait import to_node
from ansible_collections.disposable.disco.plugins.module_utils import disco_ec2_observe as observing
from ansible_collections.disposable.disco.plugins.plugin_utils import ssh_wait

KNOWN = "/home/u/.cache/disposable-disco/clusters/alpha/known_hosts"
KEYS = f"-o StrictHostKeyChecking=accept-new -o HashKnownHosts=no -o UserKnownHostsFile={KNOWN}"


def node(instance_id, role, public="", private="10.0.0.1"):
    return {
        "instance_id": instance_id,
        "role": role,
        "group": "master" if role == "master" else "default",
        "instance_type": "m5.large",
        "private_ip_address": private,
        "public_ip_address": public,
        "private_dns_name": "",
        "public_dns_name": "",
    }


def test_every_node_is_known_by_its_instance_id():
    master = node("i-0m", "master", public="203.0.113.10")
    ssh = {"ssh_user": "admin", "ssh_address": "auto", "ssh_via_master": False, "known_hosts": KNOWN}
    hostvars = observing.node_hostvars(master, master, "alpha", ssh)
    assert hostvars["ansible_ssh_common_args"] == f"-o HostKeyAlias=i-0m {KEYS}"


def test_a_slave_behind_the_master_knows_the_master_by_its_id_too():
    master, slave = node("i-0m", "master", public="203.0.113.10"), node("i-0s", "slave", private="10.0.0.7")
    ssh = {"ssh_user": "admin", "ssh_address": "auto", "ssh_via_master": True, "known_hosts": KNOWN}
    hostvars = observing.node_hostvars(slave, master, "alpha", ssh)
    assert hostvars["ansible_host"] == "10.0.0.7"
    assert hostvars["ansible_ssh_common_args"] == (
        f'-o HostKeyAlias=i-0s {KEYS} -o ProxyCommand="ssh -o HostKeyAlias=i-0m {KEYS} -o BatchMode=yes'
        ' -W %h:%p admin@203.0.113.10"'
    )
    # The shell-like split Ansible makes keeps the hop one option.
    command = ssh_wait.ssh_command(
        {"host": "10.0.0.7", "user": "admin", "ssh_args": hostvars["ansible_ssh_common_args"]}, 5
    )
    assert f"ProxyCommand=ssh -o HostKeyAlias=i-0m {KEYS} -o BatchMode=yes -W %h:%p admin@203.0.113.10" in command
    assert command[-2:] == ["admin@10.0.0.7", "true"]


def test_without_a_known_hosts_file_the_old_options_stay():
    master, slave = node("i-0m", "master", public="203.0.113.10"), node("i-0s", "slave")
    ssh = {"ssh_user": "admin", "ssh_address": "auto", "ssh_via_master": True}
    assert observing.node_hostvars(slave, master, "alpha", ssh)["ansible_ssh_common_args"] == (
        "-o ProxyJump=admin@203.0.113.10"
    )
    assert "ansible_ssh_common_args" not in observing.node_hostvars(master, master, "alpha", ssh)


def test_ssh_command_is_batch_mode_with_port_key_and_timeout():
    command = ssh_wait.ssh_command(
        {"host": "127.0.0.1", "port": 2222, "user": "root", "private_key_file": "/k", "ssh_args": "-o A=b"}, 7
    )
    assert command == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=7", "-p", "2222", "-i", "/k", "-o", "A=b",
        "root@127.0.0.1", "true",
    ]  # fmt: skip


def test_last_line_skips_the_added_key_warning():
    err = "Warning: Permanently added 'i-0m' (ED25519) to the list of known hosts.\nPermission denied (publickey).\n"
    assert ssh_wait.last_line(err) == "Permission denied (publickey)."
    assert ssh_wait.last_line("Warning: Permanently added 'x'\n") == ""


def test_hosts_take_overrides_by_role_then_by_name():
    host = {"instance_id": "i-0s", "ansible_host": "10.0.0.7", "ansible_user": "admin", "disco_role": "slave"}
    overrides = {"slave": {"ansible_host": "127.0.0.1", "ansible_port": 2200}, "i-0s": {"ansible_port": 2201}}
    assert to_node(host, overrides) == {
        "name": "i-0s",
        "label": "i-0s (slave 127.0.0.1)",
        "host": "127.0.0.1",
        "port": 2201,
        "user": "admin",
        "private_key_file": None,
        "ssh_args": "",
    }
    with pytest.raises(AnsibleActionFail, match="ansible_host"):
        to_node({"instance_id": "i-0x"}, {})


def test_the_wait_is_bounded_and_names_the_silent_each_poll(monkeypatch):
    clock = iter(range(0, 1000, 4))
    monkeypatch.setattr(ssh_wait, "poll", lambda nodes, budget: ([n for n in nodes if n.name == "a"], []))
    monkeypatch.setattr(ssh_wait.time, "sleep", lambda seconds: None)
    lines: list[str] = []
    outcome = ssh_wait.wait_for_ssh(
        [{"name": "a", "host": "h1"}, {"name": "b", "host": "h2", "label": "b (slave h2)"}],
        timeout=20, interval=5, connect_timeout=3, progress=lines.append, clock=lambda: next(clock),
    )  # fmt: skip
    assert outcome.answered == ["a"] and list(outcome.silent) == ["b"]
    assert lines and all(line.endswith("still silent: b (slave h2)") for line in lines)
    assert outcome.polls == len(lines) + 1


def test_the_command_line_key_serves_hosts_without_their_own():
    host = {"instance_id": "i-0m", "ansible_host": "203.0.113.10"}
    assert to_node(host, {}, "/home/u/.ssh/cluster")["private_key_file"] == "/home/u/.ssh/cluster"
    own = {**host, "ansible_ssh_private_key_file": "/own"}
    assert to_node(own, {}, "/home/u/.ssh/cluster")["private_key_file"] == "/own"


def test_a_poll_runs_at_most_parallel_ssh_at_once(monkeypatch):
    batches: list[int] = []
    monkeypatch.setattr(ssh_wait, "poll_batch", lambda nodes, budget: batches.append(len(nodes)) or (nodes, []))
    nodes = [ssh_wait.Node(f"i-{n}", f"i-{n}", ["true"]) for n in range(150)]
    answered, refused = ssh_wait.poll(nodes, 5)
    assert batches == [64, 64, 22] and len(answered) == 150 and refused == []
