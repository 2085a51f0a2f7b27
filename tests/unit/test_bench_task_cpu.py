"""bench/callback_plugins/task_cpu.py and what bench/configure.py makes of its file: CPU seconds by task, charged
to the task that ran since the previous task started (fake CPU counters, plays and tasks of Ansible's shape)."""

from __future__ import annotations

import json

import pytest
from support import role_files
from support.callback_fakes import Play, Role, Task

task_cpu = role_files.load("bench_task_cpu", "bench/callback_plugins/task_cpu.py")
configure = role_files.load("bench_configure", "bench/configure.py")


class Counters:
    """The CPU seconds the callback reads: the controller's and each container's, advanced by the test."""

    def __init__(self) -> None:
        self.controller = 10.0
        self.containers = {"node-a": 1.0, "node-b": 2.0, "moto": 5.0}

    def spend(self, controller: float, **containers: float) -> None:
        self.controller += controller
        for name, seconds in containers.items():
            self.containers[name] = self.containers.get(name, 0.0) + seconds


@pytest.fixture()
def counters(monkeypatch: pytest.MonkeyPatch) -> Counters:
    fake = Counters()
    monkeypatch.setattr(task_cpu, "controller_seconds", lambda: fake.controller)
    monkeypatch.setattr(task_cpu, "container_cpu", lambda: dict(fake.containers))
    return fake


def run(counters: Counters) -> list[dict]:
    """One playbook: a validation play's task, then a configure play with a role task and a Disco build task."""
    callback = task_cpu.CallbackModule()
    callback.v2_playbook_on_play_start(Play({"disco_play_phase": "validation"}))
    callback.v2_playbook_on_task_start(Task(name="Validate"), False)
    counters.spend(0.5)
    callback.v2_playbook_on_play_start(Play({"disco_play_phase": "configure"}))
    callback.v2_playbook_on_task_start(
        Task(Role("disposable.disco.disco_packages"), name="Install the packages"), False
    )
    counters.spend(0.25, **{"node-a": 4.0, "node-b": 3.0})
    callback.v2_playbook_on_task_start(Task(Role("disposable.disco.disco_install"), name="Build Disco"), False)
    counters.spend(1.0, **{"node-a": 60.0})
    callback.v2_playbook_on_handler_task_start(Task(Role("disposable.disco.disco_spot"), name="Restart the agent"))
    counters.spend(0.125, **{"node-b": 0.5, "new-node": 0.75})
    callback.v2_playbook_on_stats(None)
    return callback._rows  # pylint: disable=protected-access


def test_each_task_gets_the_cpu_spent_until_the_next_one_starts(counters, tmp_path, monkeypatch):
    target = tmp_path / "tasks.json"
    monkeypatch.setenv("DISCO_TASK_CPU_FILE", str(target))
    rows = run(counters)
    assert rows == [
        {"task": "Validate", "role": "(play)", "phase": "validation", "controller": 0.5, "containers": {}},
        {
            "task": "Install the packages",
            "role": "disposable.disco.disco_packages",
            "phase": "configure",
            "controller": 0.25,
            "containers": {"node-a": 4.0, "node-b": 3.0},
        },
        {
            "task": "Build Disco",
            "role": "disposable.disco.disco_install",
            "phase": "Disco build",
            "controller": 1.0,
            "containers": {"node-a": 60.0},
        },
        {
            "task": "Restart the agent",
            "role": "disposable.disco.disco_spot",
            "phase": "configure",
            "controller": 0.125,
            "containers": {"node-b": 0.5, "new-node": 0.75},  # a container started meanwhile counts from 0
        },
    ]
    assert json.loads(target.read_text()) == rows
    run(counters)  # a second ansible-playbook run (local-cluster.sh's status) appends its rows
    assert len(json.loads(target.read_text())) == 2 * len(rows)


def test_container_cpu_from_cgroup_v2(tmp_path, monkeypatch):
    for name, usec in (("docker-abc.scope", 1_500_000), ("docker-def.scope", 250_000)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "cpu.stat").write_text(f"usage_usec {usec}\nuser_usec 1\nsystem_usec 2\n")
    monkeypatch.setattr(task_cpu, "CGROUP_V1", tmp_path / "no-v1")
    monkeypatch.setattr(task_cpu, "CGROUP_V2", (tmp_path, tmp_path / "none"))
    assert task_cpu.container_cpu() == {"abc": 1.5, "def": 0.25}


def test_the_bench_keeps_the_configure_tasks_and_the_node_containers(counters, tmp_path, monkeypatch):
    target = tmp_path / "tasks.json"
    monkeypatch.setenv("DISCO_TASK_CPU_FILE", str(target))
    run(counters)
    # The validation play and the Disco build are not the configure figure; moto's and other containers are no node.
    assert configure.task_cpu(target, {"node-a", "node-b"}) == [
        ("disco_packages: Install the packages", 7.0, 0.25),
        ("disco_spot: Restart the agent", 0.5, 0.125),
    ]
    assert configure.task_cpu(tmp_path / "missing.json", {"node-a"}) == []


def test_the_costliest_tasks_are_printed_per_node(capsys):
    configure.print_tasks([("a: cheap", 0.2, 0.1), ("b: dear", 9.0, 1.0), ("c: middle", 2.0, 2.0)], slaves=1, top=2)
    lines = capsys.readouterr().out.splitlines()
    assert "3 tasks, 5.6 s per node in its container, 1.6 s per node on the controller" in lines[0]
    assert [line.split()[-1] for line in lines[2:]] == ["dear", "middle"]
    assert lines[2].split()[:2] == ["4.50", "0.50"]
