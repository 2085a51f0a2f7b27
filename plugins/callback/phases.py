# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time spent per phase of a playbook run; each play names its phase."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation string before the imports

DOCUMENTATION = r"""
name: phases
type: aggregate
short_description: Time spent per phase of a playbook run, each play naming its phase
version_added: 0.2.0
description:
  - Adds up the time of a playbook run by phase. A play names its phase in its variable C(disco_play_phase)
    (launch.yml, configure.yml and teardown.yml name theirs); the tasks of the role C(disposable.disco.disco_install)
    count for the phase V(Disco build) wherever they run. A play that names none counts as V(other).
  - The time between two task starts counts for the phase of the first task, so a phase holds its tasks' run time
    on every host and the waits between them.
  - At the end of the run the phases are shown in the order they first ran, one line each, then their total; or,
    with O(file), written there as JSON (phase name to seconds, in that order) and not shown.
  - With O(roles_file), the same time is also written there by phase and role (JSON, phase name to role name to
    seconds; a play's own tasks under V((play))), to see where a phase's time goes (bench/configure.py does).
  - With O(cpu_file), the CPU time spent during each phase is written there (JSON, phase name to V(machine) and
    V(controller), each in CPU seconds), to see whether a phase waits or keeps the cores busy and how much of it is
    the controller's own work (bench/configure.py does). V(machine) counts all this machine's processes (from
    C(/proc/stat), so the local cloud's node containers count too); V(controller) counts ansible-playbook and the
    processes it has reaped (its task workers and what they ran, such as the C(ssh) clients; not the C(ssh)
    connection masters, which detach). Without C(/proc/stat) nothing is written.
  - scripts/local-cluster.sh enables it to print a local cluster's phase timings.
requirements:
  - enabled with C(callbacks_enabled) (C(ANSIBLE_CALLBACKS_ENABLED=disposable.disco.phases))
options:
  file:
    description: Write the phases to this JSON file instead of showing them.
    type: path
    env:
      - name: DISCO_PHASES_FILE
    ini:
      - section: callback_disposable_disco_phases
        key: file
  roles_file:
    description: Also write the time of each phase by role to this JSON file.
    type: path
    env:
      - name: DISCO_PHASES_ROLES_FILE
    ini:
      - section: callback_disposable_disco_phases
        key: roles_file
  cpu_file:
    description: Also write the CPU seconds this machine spent during each phase to this JSON file.
    type: path
    env:
      - name: DISCO_PHASES_CPU_FILE
    ini:
      - section: callback_disposable_disco_phases
        key: cpu_file
"""

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

PHASE_VAR = "disco_play_phase"
OTHER = "other"
PLAY_TASKS = "(play)"  # the tasks of a play that no role runs
# Roles whose tasks count for a phase of their own, whatever play runs them.
ROLE_PHASES = {"disposable.disco.disco_install": "Disco build"}
PROC_STAT = "/proc/stat"
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # of the line "cpu ...": user nice system (idle iowait) irq softirq steal
CLOCK_TICKS = 100  # USER_HZ, the unit of /proc/stat on Linux


def busy_seconds() -> float | None:
    """CPU seconds this machine's processors spent busy since boot (all processes), None without /proc/stat."""
    try:
        with open(PROC_STAT, encoding="ascii") as handle:
            fields = handle.readline().split()[1:]
    except OSError:
        return None
    return sum(int(fields[index]) for index in BUSY_FIELDS if index < len(fields)) / CLOCK_TICKS


def play_phase(play: Any) -> str:
    """The phase a play names in its variable disco_play_phase, OTHER when it names none."""
    return str(play.get_vars().get(PHASE_VAR) or OTHER)


def task_phase(task: Any, phase_of_play: str) -> tuple[str, str]:
    """The phase and the role a task counts for: its role's own phase (ROLE_PHASES) or its play's; PLAY_TASKS for
    the role of a play's own tasks."""
    role = getattr(task, "_role", None)
    if role is None:
        return phase_of_play, PLAY_TASKS
    return ROLE_PHASES.get(role.get_name(), phase_of_play), role.get_name()


def controller_seconds() -> float:
    """CPU seconds of this process (ansible-playbook, where callbacks run) and of the children it has reaped."""
    spent = os.times()
    return spent.user + spent.system + spent.children_user + spent.children_system


class CallbackModule(CallbackBase):
    """Adds up the time between task starts by the phase their play (or role) names."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "disposable.disco.phases"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by_role: dict[str, dict[str, float]] = {}
        self.phase: str | None = None  # None before the first play and after the last
        self.role = PLAY_TASKS
        self.play_phase = OTHER
        self.since = time.monotonic()
        self.cpu: dict[str, dict[str, float]] = {}
        self.cpu_since = busy_seconds()
        self.controller_since = controller_seconds()

    def switch(self, phase: str | None, role: str = PLAY_TASKS) -> None:
        """Count the time since the last event for the current phase and role, then go on in ``phase``."""
        now, cpu_now, controller_now = time.monotonic(), busy_seconds(), controller_seconds()
        if self.phase is not None:
            roles = self.by_role.setdefault(self.phase, {})
            roles[self.role] = roles.get(self.role, 0.0) + now - self.since
            if cpu_now is not None and self.cpu_since is not None:
                spent = self.cpu.setdefault(self.phase, {"machine": 0.0, "controller": 0.0})
                spent["machine"] += cpu_now - self.cpu_since
                spent["controller"] += controller_now - self.controller_since
        self.phase, self.role, self.since = phase, role, now
        self.cpu_since, self.controller_since = cpu_now, controller_now

    def switch_to_task(self, task: Any) -> None:
        self.switch(*task_phase(task, self.play_phase))

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self.play_phase = play_phase(play)
        self.switch(self.play_phase)

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self.switch_to_task(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self.switch_to_task(task)

    def spent(self) -> dict[str, float]:
        """Each phase's seconds (the sum of its roles'), in the order the phases first ran."""
        return {phase: sum(roles.values()) for phase, roles in self.by_role.items()}

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self.switch(None)
        spent = self.spent()
        roles_path = self.get_option("roles_file")
        if roles_path:
            with open(roles_path, "w", encoding="utf-8") as handle:
                rounded = {
                    phase: {role: round(seconds, 3) for role, seconds in roles.items()}
                    for phase, roles in self.by_role.items()
                }
                json.dump(rounded, handle)
        cpu_path = self.get_option("cpu_file")
        if cpu_path and self.cpu:
            with open(cpu_path, "w", encoding="utf-8") as handle:
                rounded_cpu = {
                    phase: {what: round(seconds, 2) for what, seconds in spent.items()}
                    for phase, spent in self.cpu.items()
                }
                json.dump(rounded_cpu, handle)
        path = self.get_option("file")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({name: round(seconds, 3) for name, seconds in spent.items()}, handle)
            return
        self._display.display("\n== phase timings")
        for name, seconds in spent.items():
            self._display.display(f"  {name:<12} {seconds:8.1f} s")
        self._display.display(f"  {'total':<12} {sum(spent.values()):8.1f} s")
