# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait until nodes answer SSH: one ``ssh ... true`` per silent node and poll, all at once, bounded in time.

Runs on the controller with the ``ssh`` client Ansible's ssh connection uses, with the nodes' own inventory
variables (address, port, user, key, ``ansible_ssh_common_args``), so a node that answers here answers Ansible,
through a jump host too. Host keys are whatever those options say (the cluster's known_hosts with
``accept-new``): the first answer records the key.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# ssh's words when the key of a known host changed, or it cannot be checked: never retried.
REFUSED_MARKS = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed")
# ssh processes at once (a 1+300 cluster is polled in batches, not with 301 processes).
PARALLEL = 64


@dataclass
class Node:
    """One node to reach: its inventory name, the ssh command line that reaches it, the last error seen."""

    name: str
    label: str
    command: list[str]
    error: str = ""


@dataclass
class Outcome:
    """Who answered, who stayed silent (with ssh's last words), whose host key was refused, and how long it took."""

    answered: list[str] = field(default_factory=list)
    silent: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    polls: int = 0


def ssh_command(node: dict[str, Any], connect_timeout: int) -> list[str]:
    """``ssh`` with the node's inventory variables, in batch mode, running ``true``."""
    command = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}"]
    if node.get("port"):
        command += ["-p", str(node["port"])]
    if node.get("private_key_file"):
        command += ["-i", str(node["private_key_file"])]
    command += shlex.split(node.get("ssh_args") or "")
    user = node.get("user")
    command += [f"{user}@{node['host']}" if user else str(node["host"]), "true"]
    return command


def last_line(text: str) -> str:
    """The last non-empty line ssh wrote (its reason), without ssh's own warnings about added keys."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Warning: Permanently")]
    return lines[-1] if lines else ""


def poll(nodes: list[Node], budget: float) -> tuple[list[Node], list[Node]]:
    """One ``ssh true`` per node, at most PARALLEL at once; returns (answered, refused); sets the others' error."""
    answered: list[Node] = []
    refused: list[Node] = []
    for first in range(0, len(nodes), PARALLEL):
        batch_answered, batch_refused = poll_batch(nodes[first : first + PARALLEL], budget)
        answered += batch_answered
        refused += batch_refused
    return answered, refused


def poll_batch(nodes: list[Node], budget: float) -> tuple[list[Node], list[Node]]:
    """One ``ssh true`` per node, all at once, each given at most ``budget`` seconds."""
    running = [
        (
            node,
            subprocess.Popen(
                node.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            ),
        )
        for node in nodes
    ]
    answered, refused = [], []
    deadline = time.monotonic() + budget
    for node, process in running:
        try:
            err = process.communicate(timeout=max(deadline - time.monotonic(), 0.1))[1]
        except subprocess.TimeoutExpired:
            process.kill()
            err = process.communicate()[1]
            err = (err or "") + "\nno answer within the poll"
        if process.returncode == 0:
            answered.append(node)
        elif any(mark in (err or "") for mark in REFUSED_MARKS):
            node.error = last_line(err or "") or "host key refused"
            refused.append(node)
        else:
            node.error = last_line(err or "") or f"ssh exited with status {process.returncode}"
    return answered, refused


def wait_for_ssh(
    nodes: list[dict[str, Any]],
    timeout: float,
    interval: float,
    connect_timeout: int,
    progress: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Poll the silent nodes every ``interval`` seconds until all answer or ``timeout`` seconds passed.

    ``progress`` gets one line per poll naming who is still silent.
    """
    silent = [Node(n["name"], n.get("label") or n["name"], ssh_command(n, connect_timeout)) for n in nodes]
    outcome = Outcome()
    start = clock()
    while silent:
        outcome.polls += 1
        began = clock()
        answered, refused = poll(silent, max(connect_timeout + 5, 1))
        outcome.answered += [node.name for node in answered]
        outcome.refused.update({node.name: node.error for node in refused})
        silent = [node for node in silent if node not in answered and node not in refused]
        waited = clock() - start
        if not silent:
            break
        if waited >= timeout:
            break
        progress(
            f"SSH: {len(nodes) - len(silent)}/{len(nodes)} node(s) answer after {waited:.0f}s of {timeout:.0f}s;"
            f" still silent: {', '.join(node.label for node in silent)}"
        )
        time.sleep(max(min(interval - (clock() - began), timeout - waited), 0))
    outcome.silent = {node.name: node.error for node in silent}
    outcome.elapsed = clock() - start
    return outcome
