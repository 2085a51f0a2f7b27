"""plugins/callback/phases.py on its own: which phase the time between two events counts for (a fake clock, plays
and tasks of the shape Ansible gives the callback)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible_collections.disposable.disco.plugins.callback import phases
from support.callback_fakes import Play, Role, Task


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(phases.time, "monotonic", fake)
    return fake


def callback(path: Path, roles_path: Path | None = None, cpu_path: Path | None = None) -> phases.CallbackModule:
    module = phases.CallbackModule()
    options = {
        "file": str(path),
        "roles_file": str(roles_path) if roles_path else None,
        "cpu_file": str(cpu_path) if cpu_path else None,
    }
    module.get_option = options.get
    return module


def test_time_counts_for_the_phase_of_the_event_before(clock: Clock, tmp_path: Path) -> None:
    path = tmp_path / "phases.json"
    module = callback(path)
    clock.now += 5  # before the first play: counts for nothing
    module.v2_playbook_on_play_start(Play({"disco_play_phase": "provision"}))
    clock.now += 2
    module.v2_playbook_on_task_start(Task(), is_conditional=False)
    clock.now += 3
    module.v2_playbook_on_task_start(Task(Role("disposable.disco.disco_install")), is_conditional=False)
    clock.now += 40  # a task of disco_install: the Disco build, whatever its play names
    module.v2_playbook_on_handler_task_start(Task(Role("disposable.disco.disco_install")))
    clock.now += 4
    module.v2_playbook_on_task_start(Task(Role("disposable.disco.disco_service")), is_conditional=False)
    clock.now += 6  # another role's task: its play's phase
    module.v2_playbook_on_play_start(Play())  # names no phase
    clock.now += 1
    module.v2_playbook_on_play_start(Play({"disco_play_phase": "provision"}))
    clock.now += 10
    module.v2_playbook_on_stats(None)
    clock.now += 7  # after the run: counts for nothing
    assert json.loads(path.read_text()) == {"provision": 21.0, "Disco build": 44.0, "other": 1.0}
    assert list(json.loads(path.read_text())) == ["provision", "Disco build", "other"], "order of first run"


def test_no_play_no_phase(clock: Clock, tmp_path: Path) -> None:
    path = tmp_path / "phases.json"
    module = callback(path)
    clock.now += 3
    module.v2_playbook_on_stats(None)
    assert json.loads(path.read_text()) == {}


def test_roles_file_splits_each_phase_by_role(clock: Clock, tmp_path: Path) -> None:
    path, roles_path = tmp_path / "phases.json", tmp_path / "roles.json"
    module = callback(path, roles_path)
    module.v2_playbook_on_play_start(Play({"disco_play_phase": "configure"}))
    clock.now += 2  # the play's start before its first task: its own tasks
    module.v2_playbook_on_task_start(Task(Role("disposable.disco.disco_packages")), is_conditional=False)
    clock.now += 30
    module.v2_playbook_on_task_start(Task(Role("disposable.disco.disco_install")), is_conditional=False)
    clock.now += 50
    module.v2_playbook_on_task_start(Task(), is_conditional=False)
    clock.now += 1
    module.v2_playbook_on_handler_task_start(Task(Role("disposable.disco.disco_packages")))
    clock.now += 4
    module.v2_playbook_on_stats(None)
    assert json.loads(path.read_text()) == {"configure": 37.0, "Disco build": 50.0}, "the phases file is unchanged"
    assert json.loads(roles_path.read_text()) == {
        "configure": {"(play)": 3.0, "disposable.disco.disco_packages": 34.0},
        "Disco build": {"disposable.disco.disco_install": 50.0},
    }


def test_no_roles_file_unless_asked(clock: Clock, tmp_path: Path) -> None:
    module = callback(tmp_path / "phases.json")
    module.v2_playbook_on_play_start(Play({"disco_play_phase": "configure"}))
    clock.now += 1
    module.v2_playbook_on_stats(None)
    assert sorted(item.name for item in tmp_path.iterdir()) == ["phases.json"]


class ProcStat:
    """A /proc/stat whose busy fields (user, nice, system, irq, softirq, steal) grow as a test says, in ticks."""

    def __init__(self, path: Path) -> None:
        self.path, self.ticks = path, [0] * 10
        self.write()

    def spend(self, seconds: float, idle: float = 0) -> None:
        self.ticks[0] += int(seconds * 50)  # user
        self.ticks[2] += int(seconds * 30)  # system
        self.ticks[6] += int(seconds * 20)  # softirq
        self.ticks[3] += int(idle * 100)  # idle: not busy
        self.ticks[4] += int(idle * 100)  # iowait: not busy
        self.write()

    def write(self) -> None:
        self.path.write_text("cpu  " + " ".join(map(str, self.ticks)) + "\ncpu0 0 0 0 0 0 0 0 0 0 0\nintr 1\n")


class Times:
    """os.times() of ansible-playbook: its own CPU seconds and its reaped children's grow as a test says."""

    def __init__(self) -> None:
        self.own, self.children = 0.0, 0.0

    def spend(self, own: float, children: float) -> None:
        self.own, self.children = self.own + own, self.children + children

    def __call__(self) -> SimpleNamespace:
        return SimpleNamespace(
            user=self.own * 0.75,
            system=self.own * 0.25,
            children_user=self.children / 2,
            children_system=self.children / 2,
        )


def test_cpu_file_holds_each_phases_busy_seconds(clock: Clock, tmp_path: Path, monkeypatch) -> None:
    stat, times = ProcStat(tmp_path / "stat"), Times()
    monkeypatch.setattr(phases, "PROC_STAT", str(stat.path))
    monkeypatch.setattr(phases.os, "times", times)
    cpu_path = tmp_path / "cpu.json"
    module = callback(tmp_path / "phases.json", cpu_path=cpu_path)
    stat.spend(7)  # before the first play: counts for nothing
    times.spend(1, 2)
    module.v2_playbook_on_play_start(Play({"disco_play_phase": "configure"}))
    stat.spend(3, idle=5)
    times.spend(0.5, 1)
    module.v2_playbook_on_task_start(Task(Role("disposable.disco.disco_install")), is_conditional=False)
    stat.spend(4)
    times.spend(0.25, 0.5)
    module.v2_playbook_on_task_start(Task(), is_conditional=False)
    stat.spend(1.5, idle=2)
    times.spend(0.25, 0.25)
    module.v2_playbook_on_stats(None)
    assert json.loads(cpu_path.read_text()) == {
        "configure": {"machine": 4.5, "controller": 2.0},
        "Disco build": {"machine": 4.0, "controller": 0.75},
    }


def test_no_cpu_file_without_proc_stat(clock: Clock, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(phases, "PROC_STAT", str(tmp_path / "absent"))
    cpu_path = tmp_path / "cpu.json"
    module = callback(tmp_path / "phases.json", cpu_path=cpu_path)
    module.v2_playbook_on_play_start(Play({"disco_play_phase": "configure"}))
    clock.now += 1
    module.v2_playbook_on_stats(None)
    assert not cpu_path.exists() and json.loads((tmp_path / "phases.json").read_text()) == {"configure": 1.0}
