"""ansible.cfg's forks: the 31 hosts of a 1+30 cluster run each task in one round, not seven (Ansible's default 5)."""

from __future__ import annotations

import json
import textwrap

import pytest
from ec2lab import run_in_repo

pytestmark = pytest.mark.slow

HOSTS = 31  # 1 + 30
# Each host marks itself, then waits until every host has marked itself: only hosts running at once get there.
BARRIER = (
    "import pathlib, sys, time; d = pathlib.Path(sys.argv[1]); (d / sys.argv[2]).touch(); end = time.time() + 45\n"
    "while len(list(d.iterdir())) < int(sys.argv[3]) and time.time() < end: time.sleep(0.2)\n"
    "sys.exit(0 if len(list(d.iterdir())) >= int(sys.argv[3]) else 1)"
)


def test_a_1_plus_30_cluster_runs_each_task_in_one_round(ansible_env, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "hosts").write_text(
        "".join(f"node{n} ansible_connection=local ansible_python_interpreter=python3\n" for n in range(HOSTS))
    )
    (tmp_path / "play.yml").write_text(
        textwrap.dedent(
            f"""\
            - name: Every node at once
              hosts: all
              gather_facts: false
              tasks:
                - name: Wait until every node runs this task
                  ansible.builtin.command:
                    argv: [python3, -c, {json.dumps(BARRIER)}, {json.dumps(str(marks))},
                           "{{{{ inventory_hostname }}}}", "{HOSTS}"]
                  changed_when: false
            """
        )
    )
    result = run_in_repo(["ansible-playbook", "-i", str(tmp_path / "hosts"), str(tmp_path / "play.yml")], ansible_env)
    assert result.returncode == 0, result.stdout[:3000] + result.stderr[-2000:]
    assert len(list(marks.iterdir())) == HOSTS
