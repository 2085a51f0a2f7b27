# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks only (bench/configure.py): CPU seconds of every task, the controller's and each docker container's.

Not part of the collection: bench/configure.py enables it with ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins and
ANSIBLE_CALLBACKS_ENABLED=task_cpu, and reads the JSON it writes to DISCO_TASK_CPU_FILE (each ansible-playbook run
appends its own rows): a list, in run order, of {"task": name, "role": role, "phase": its phase as the collection's
phases callback counts it, "controller": s, "containers": {container id: s}}. The time between two task starts
counts for the first task (a linear play runs a task on every host before the next one starts). A container's CPU
is read from its cgroup (v1 cpuacct or v2 cpu.stat), so only what runs inside it counts: its modules, dpkg, its
services; the docker engine's own work for `docker exec` is in neither figure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ansible.plugins.callback import CallbackBase
from ansible_collections.disposable.disco.plugins.callback.phases import controller_seconds, play_phase, task_phase

CGROUP_V1 = Path("/sys/fs/cgroup/cpuacct/docker")
CGROUP_V2 = (Path("/sys/fs/cgroup/system.slice"), Path("/sys/fs/cgroup/docker"))


def container_cpu() -> dict[str, float]:
    """CPU seconds so far of every running docker container, by full container id."""
    found: dict[str, float] = {}
    if CGROUP_V1.is_dir():
        for usage in CGROUP_V1.glob("*/cpuacct.usage"):
            found[usage.parent.name] = int(usage.read_text()) / 1e9
        return found
    for root in CGROUP_V2:
        for stat in root.glob("*/cpu.stat"):
            name = stat.parent.name.removeprefix("docker-").removesuffix(".scope")
            line = next((line for line in stat.read_text().splitlines() if line.startswith("usage_usec ")), None)
            if line is not None:
                found[name] = int(line.split()[1]) / 1e6
    return found


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_cpu"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._controller = 0.0
        self._containers: dict[str, float] = {}
        self._phase = ""  # the current play's

    def _close(self) -> None:
        """Charge the CPU since the current task started to it."""
        controller, containers = controller_seconds(), container_cpu()
        if self._current is not None:
            self._current["controller"] = round(controller - self._controller, 3)
            spent = {name: round(value - self._containers.get(name, 0.0), 3) for name, value in containers.items()}
            self._current["containers"] = {name: value for name, value in spent.items() if value > 0}
            self._rows.append(self._current)
        self._controller, self._containers = controller, containers

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._phase = play_phase(play)

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._close()
        phase, role = task_phase(task, self._phase)  # as the phases callback counts it (the Disco build apart)
        self._current = {"task": task.get_name(), "role": role, "phase": phase}

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close()
        self._current = None
        target = os.environ.get("DISCO_TASK_CPU_FILE")
        if target:  # appended to: scripts/local-cluster.sh up runs ansible-playbook more than once (launch, status)
            path = Path(target)
            earlier = json.loads(path.read_text()) if path.exists() else []
            path.write_text(json.dumps(earlier + self._rows))
