"""Benchmark the configure phase in the local cloud: a 1+6 cluster against a 1+2 one, printed as a ratio.

    .venv/bin/python bench/configure.py                    # 1+2 then 1+6, Disco included (needs DISCO_SOURCES)
    .venv/bin/python bench/configure.py 2 6 --skip-tags disco   # other sizes; options after the sizes go to
                                                           # ansible-playbook (scripts/local-cluster.sh up)

Each size is a fresh local cluster of its own (unique cluster name, its own moto container on a free port of
127.0.0.1), launched with ``scripts/local-cluster.sh up`` (no smoke job), whose phase timings it reads, then torn
down (``down``, and whatever is left of its containers, networks and moto removed). The ratio compares the
``configure`` phase (every configure play but the Disco build) of the largest size with the smallest; the target of
issue 13 is <= 1.6 for 1+6 against 1+2 on the 2-core development machine (ansible.cfg's forks = 50 gives every node
a fork; the nodes' containers still share the machine's cores, README "Performance" has the figures). For each
size also the configure phase's CPU seconds on this machine, controller and node containers together (the
callback's cpu file, DISCO_PHASES_CPU_FILE), the share of the cores they kept busy and the CPU seconds per node:
when each node brings the same work, the ratio cannot be less than the node count's ratio times the small run's
busy share. Of those CPU seconds, the controller's own (ansible-playbook and the processes it ran): on EC2
the rest runs on the nodes' own CPUs. Then where the difference goes: the configure phase's seconds by role for
each size (the callback's roles file, DISCO_PHASES_ROLES_FILE), the roles that grow most first; and, for the
largest size, the configure tasks that cost most CPU per node, in its container and on the controller (the bench's
own callback, bench/callback_plugins/task_cpu.py, which reads the containers' cgroups).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "local-cluster.sh"
TASK_CPU = REPO / "bench" / "callback_plugins"  # task_cpu: CPU seconds by task, the controller's and each container's
TIMING = re.compile(r"^  (validation|provision|containers|configure|Disco build|status|total)\s+([\d.]+) s$", re.M)
TARGET = 1.6
STEP_TIMEOUT = 3600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300, check=False)
    return result.stdout


def remove_leftovers(cluster: str, moto_name: str) -> None:
    """Whatever teardown left of the cluster: its containers and network, its moto and moto's network."""
    names = docker("ps", "-aq", "--filter", f"label=disposable-disco-cluster={cluster}").split()
    if names:
        docker("rm", "-f", *names)
    docker("rm", "-f", moto_name)
    for network in (f"disco-{cluster}", moto_name):
        docker("network", "rm", network)


def local_cluster(
    command: str, config: Path, extra: list[str], log: Path, files: Path | None = None
) -> tuple[int, str]:
    """scripts/local-cluster.sh COMMAND; with FILES (a path without suffix), the phases callback also writes its
    time by phase and role to FILES-roles.json and the machine's CPU seconds by phase to FILES-cpu.json."""
    env = {**os.environ, "DISCO_LOCAL_CONFIG": str(config), "DISCO_LOCAL_SMOKE": "0"}
    if files is not None:
        env["DISCO_PHASES_ROLES_FILE"] = f"{files}-roles.json"
        env["DISCO_PHASES_CPU_FILE"] = f"{files}-cpu.json"
        env["DISCO_TASK_CPU_FILE"] = f"{files}-tasks.json"
        plugins = os.environ.get("ANSIBLE_CALLBACK_PLUGINS")
        env["ANSIBLE_CALLBACK_PLUGINS"] = f"{plugins}:{TASK_CPU}" if plugins else str(TASK_CPU)
        enabled = os.environ.get("ANSIBLE_CALLBACKS_ENABLED")
        env["ANSIBLE_CALLBACKS_ENABLED"] = f"{enabled},task_cpu" if enabled else "task_cpu"
    result = subprocess.run(
        ["bash", str(SCRIPT), command, *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    log.write_text(output)
    return result.returncode, output


def bench(slaves: int, extra: list[str], workdir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Launch a fresh 1+``slaves`` local cluster; its phase timings (and wall time) and its configure phase's
    seconds by role. Always torn down."""
    suffix = secrets.token_hex(3)
    cluster, moto_name = f"bench-configure-{slaves}-{suffix}", f"disco-bench-moto-{suffix}"
    settings = yaml.safe_load((REPO / "examples" / "local.yml").read_text())
    settings.update(
        {
            "disco_cluster_name": cluster,
            "disco_num_slaves": slaves,
            "disco_aws_endpoint": f"http://127.0.0.1:{free_port()}",
            "disco_localcloud_moto_name": moto_name,
        }
    )
    config = workdir / f"{cluster}.yml"
    config.write_text(yaml.safe_dump(settings))
    started = time.monotonic()
    try:
        files = workdir / cluster
        roles, cpu = Path(f"{files}-roles.json"), Path(f"{files}-cpu.json")
        code, output = local_cluster("up", config, extra, workdir / f"{cluster}-up.log", files)
        wall = time.monotonic() - started
        if code != 0:
            raise SystemExit(f"1+{slaves}: launch failed ({code}); log: {workdir / f'{cluster}-up.log'}")
        phases = {name: float(value) for name, value in TIMING.findall(output)}
        phases["wall"] = wall
        if cpu.exists():
            spent = json.loads(cpu.read_text()).get("configure", {})
            phases["configure CPU"] = spent.get("machine", 0.0)
            phases["configure controller CPU"] = spent.get("controller", 0.0)
        by_role = json.loads(roles.read_text()).get("configure", {}) if roles.exists() else {}
        nodes = set(
            docker(
                "ps",
                "-q",
                "--no-trunc",
                "--filter",
                f"label=disposable-disco-cluster={cluster}",
                "--filter",
                "label=disposable-disco-kind=node",
            ).split()
        )
        phases["tasks"] = task_cpu(Path(f"{files}-tasks.json"), nodes)
        return phases, by_role
    finally:
        local_cluster("down", config, [], workdir / f"{cluster}-down.log")
        remove_leftovers(cluster, moto_name)


def task_cpu(path: Path, nodes: set[str]) -> list[tuple[str, float, float]]:
    """From the task_cpu callback's file: for each task of the configure phase (the Disco build is a phase of its
    own), its name, the CPU seconds of the cluster's node containers and the controller's, in run order (none
    without the file)."""
    if not path.exists():
        return []
    rows = json.loads(path.read_text())
    return [
        (
            f"{row['role'].removeprefix('disposable.disco.')}: {row['task']}",
            sum(seconds for name, seconds in row.get("containers", {}).items() if name in nodes),
            row.get("controller", 0.0),
        )
        for row in rows
        if row.get("phase") == "configure"
    ]


def print_tasks(tasks: list[tuple[str, float, float]], slaves: int, top: int = 15) -> None:
    """The configure tasks that cost most CPU per node (in the containers and on the controller)."""
    if not tasks:
        print("(no CPU by task: the task_cpu callback wrote no file)")
        return
    nodes = slaves + 1
    inside, outside = sum(task[1] for task in tasks), sum(task[2] for task in tasks)
    print(
        f"configure CPU by task, 1+{slaves}: {len(tasks)} tasks, {inside / nodes:.1f} s per node in its container,"
        f" {outside / nodes:.1f} s per node on the controller; the {top} costliest (s per node):"
    )
    print(f"  {'container':>9} {'controller':>10}  task")
    for name, container, controller in sorted(tasks, key=lambda task: -(task[1] + task[2]))[:top]:
        print(f"  {container / nodes:9.2f} {controller / nodes:10.2f}  {name[:90]}")


def main(argv: list[str]) -> int:
    count = next((index for index, arg in enumerate(argv) if not arg.isdigit()), len(argv))
    sizes = [int(arg) for arg in argv[:count]] or [2, 6]  # the leading numbers; the rest goes to ansible-playbook
    extra = argv[count:]
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-configure-{secrets.token_hex(3)}"
    workdir.mkdir(parents=True)
    print(f"configure benchmark in the local cloud: 1+{' vs 1+'.join(map(str, sizes))}; logs in {workdir}")
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    results, roles = {}, {}
    for slaves in sizes:
        results[slaves], roles[slaves] = bench(slaves, extra, workdir)
        phases = results[slaves]
        print(
            f"  1+{slaves:<3} configure {phases.get('configure', 0):7.1f} s"
            f"   Disco build {phases.get('Disco build', 0):7.1f} s"
            f"   provision {phases.get('provision', 0):6.1f} s   containers {phases.get('containers', 0):6.1f} s"
            f"   wall {phases['wall']:7.1f} s   (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    print_cpu(results)
    small, large = results[min(sizes)], results[max(sizes)]
    ratio = large.get("configure", 0) / max(small.get("configure", 0), 0.001)
    both = (large.get("configure", 0) + large.get("Disco build", 0)) / max(
        small.get("configure", 0) + small.get("Disco build", 0), 0.001
    )
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"ratio configure 1+{max(sizes)} / 1+{min(sizes)}: {ratio:.2f} ({verdict} the target <= {TARGET})")
    print(f"ratio with the Disco build: {both:.2f}")
    print_roles(roles[min(sizes)], roles[max(sizes)], min(sizes), max(sizes))
    print_tasks(results[max(sizes)].get("tasks", []), max(sizes))
    return 0 if ratio <= TARGET else 1


def print_cpu(results: dict[int, dict[str, float]]) -> None:
    """The configure phase's CPU seconds on this machine (controller and node containers together) for each size,
    how many of the cores they kept busy, the CPU seconds per node, and how much of it was the controller's
    (ansible-playbook and what it ran): the part that stays on the laptop when the nodes are EC2's."""
    cores = os.cpu_count() or 1
    for slaves, phases in results.items():
        cpu, wall = phases.get("configure CPU"), phases.get("configure", 0)
        if cpu is None or wall <= 0:
            print(f"  1+{slaves:<3} (no CPU figures: the phases callback needs /proc/stat)")
            continue
        controller, nodes = phases.get("configure controller CPU", 0.0), slaves + 1
        print(
            f"  1+{slaves:<3} configure CPU {cpu:7.1f} s: {cpu / wall:.2f} of {cores} cores busy,"
            f" {cpu / nodes:.1f} CPU s per node; the controller's {controller:.1f} s"
            f" ({controller / nodes:.1f} per node)"
        )


def print_roles(small: dict[str, float], large: dict[str, float], low: int, high: int) -> None:
    """The configure phase by role, the roles whose time grows most from the small cluster to the large first."""
    if not small or not large:
        print("(no time by role: the phases callback wrote no roles file)")
        return
    names = sorted(set(small) | set(large), key=lambda name: small.get(name, 0) - large.get(name, 0))
    print("configure phase by role (seconds; the roles that grow most first):")
    print(f"  {'role':<40} {'1+' + str(low):>8} {'1+' + str(high):>8} {'more':>7} {'ratio':>6}")
    for name in names:
        before, after = small.get(name, 0.0), large.get(name, 0.0)
        ratio = f"{after / before:6.2f}" if before > 0 else "     -"
        print(
            f"  {name.removeprefix('disposable.disco.'):<40} {before:8.1f} {after:8.1f} {after - before:7.1f} {ratio}"
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
