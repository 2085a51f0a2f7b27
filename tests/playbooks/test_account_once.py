"""disco_account runs its modules once per run and host: configure.yml meets it in two plays (disco_users, then
disco_service); the second meeting with the same settings runs nothing on the node, other settings run it again."""

from __future__ import annotations

import re

from ec2lab import run_in_repo

ACCOUNT_TASKS = ("Make the Disco account", "Make DISCO_ROOT and its directories, owned by the account")


def play(name: str, dirs: list[str]) -> str:
    return f"""
- name: {name}
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    disco_facts_account: ddtest-no-such-account
    disco_account_dirs: {dirs}
  roles:
    - role: disposable.disco.disco_account
"""


def outcomes(output: str) -> list[tuple[str, str]]:
    """(task, first word of its result line) for the account's tasks, in run order."""
    found = []
    for header, body in re.findall(
        r"^TASK \[disposable\.disco\.disco_account : ([^\]]+)\] \**\n(.*?)(?=^TASK |^PLAY )", output, re.M | re.S
    ):
        if header in ACCOUNT_TASKS:
            found.append((header, body.split(":", 1)[0].strip()))
    return found


def test_a_second_play_with_the_same_settings_runs_no_module(ansible_env, tmp_path):
    book = tmp_path / "twice.yml"
    book.write_text(
        play("First meeting (disco_users)", ["data", "log"])
        + play("Second meeting (disco_service)", ["data", "log"])
        + play("Other settings", ["data", "log", "run"])
    )
    # Check mode: nothing is made on this machine; the modules still run and report what they would change.
    result = run_in_repo(
        ["ansible-playbook", "-i", "localhost,", "--check", "-e", f"disco_facts_root={tmp_path}/root", str(book)],
        ansible_env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert outcomes(result.stdout) == [
        (ACCOUNT_TASKS[0], "changed"),
        (ACCOUNT_TASKS[1], "changed"),
        (ACCOUNT_TASKS[0], "skipping"),
        (ACCOUNT_TASKS[1], "skipping"),
        (ACCOUNT_TASKS[0], "changed"),
        (ACCOUNT_TASKS[1], "changed"),
    ], result.stdout[-4000:]
    assert not (tmp_path / "root").exists()
