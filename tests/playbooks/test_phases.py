"""The callback disposable.disco.phases (plugins/callback/phases.py): a real ansible-playbook run adds up its time by
the phase each play names in disco_play_phase, as scripts/local-cluster.sh reads it; and the playbooks it times name
a phase in every play."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from ec2lab import REPO

pytestmark = pytest.mark.slow

PLAYBOOK = """\
- name: First phase
  hosts: localhost
  gather_facts: false
  vars:
    disco_play_phase: alpha
  tasks:
    - name: Take a second
      ansible.builtin.pause:
        seconds: 1
- name: Second phase
  hosts: localhost
  gather_facts: false
  vars:
    disco_play_phase: beta
  tasks:
    - name: Say something
      ansible.builtin.debug:
        msg: quick
- name: A play that names no phase
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say something
      ansible.builtin.debug:
        msg: quick
- name: The first phase again
  hosts: localhost
  gather_facts: false
  vars:
    disco_play_phase: alpha
  tasks:
    - name: Take another second
      ansible.builtin.pause:
        seconds: 1
"""


def run(ansible_env: dict[str, str], tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml")],
        env={**ansible_env, "ANSIBLE_CALLBACKS_ENABLED": "disposable.disco.phases", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_phases_written_to_the_file_in_the_order_they_first_ran(ansible_env, tmp_path):
    path = tmp_path / "phases.json"
    result = run(ansible_env, tmp_path, DISCO_PHASES_FILE=str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    phases = json.loads(path.read_text())
    assert list(phases) == ["alpha", "beta", "other"], phases
    assert phases["alpha"] >= 2.0, "both plays of phase alpha (a pause of 1 s each) count for it"
    assert phases["beta"] < phases["alpha"] and phases["other"] < phases["alpha"], phases
    assert "== phase timings" not in result.stdout, "with a file the timings are not shown"


def test_phases_shown_at_the_end_without_a_file(ansible_env, tmp_path):
    result = run(ansible_env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = result.stdout.split("== phase timings", 1)[1]
    rows = re.findall(r"^  (\S+)\s+([\d.]+) s$", shown, re.M)
    assert [row[0] for row in rows] == ["alpha", "beta", "other", "total"], shown
    seconds = {name: float(value) for name, value in rows}
    assert seconds["alpha"] >= 2.0
    assert abs(seconds["total"] - (seconds["alpha"] + seconds["beta"] + seconds["other"])) < 0.2, seconds


@pytest.mark.parametrize(
    ("playbook", "phases"),
    [
        ("launch.yml", {"validation", "provision", "containers", "status"}),
        ("configure.yml", {"validation", "configure"}),
        ("teardown.yml", {"validation", "teardown"}),
    ],
)
def test_every_play_of_the_timed_playbooks_names_its_phase(playbook, phases):
    plays = yaml.safe_load((REPO / "playbooks" / playbook).read_text())
    named = {
        play["name"]: (play.get("vars") or {}).get("disco_play_phase")
        for play in plays
        if "import_playbook" not in play and "ansible.builtin.import_playbook" not in play
    }
    assert None not in named.values(), f"plays of {playbook} that name no phase: {named}"
    assert set(named.values()) == phases, named
