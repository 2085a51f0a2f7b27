# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin behind disposable.disco.disco_ssh_wait: wait until the nodes answer SSH, one line per poll."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.disposable.disco.plugins.plugin_utils.ssh_wait import wait_for_ssh

ARGS = {
    "hosts": {"type": "list", "elements": "dict", "required": True},
    "overrides": {"type": "dict", "default": {}},
    "timeout": {"type": "int", "default": 600},
    "interval": {"type": "int", "default": 10},
    "connect_timeout": {"type": "int", "default": 10},
}


def to_node(host: dict[str, Any], overrides: dict[str, Any], private_key_file: str | None = None) -> dict[str, Any]:
    """A host's inventory variables (with the overrides of its name or role on top) as ssh_wait wants them.

    ``private_key_file`` (ansible-playbook's ``--private-key``) serves the hosts that name no key of their own.
    """
    name = host.get("inventory_hostname") or host.get("instance_id")
    given = {**host, **(overrides.get(host.get("disco_role") or "") or {}), **(overrides.get(name or "") or {})}
    if not name or not given.get("ansible_host"):
        raise AnsibleActionFail(
            f"disco_ssh_wait: every host needs instance_id (or inventory_hostname) and ansible_host, got {host}"
        )
    role = f"{given['disco_role']} " if given.get("disco_role") else ""
    return {
        "name": name,
        "label": f"{name} ({role}{given['ansible_host']})",
        "host": given["ansible_host"],
        "port": given.get("ansible_port"),
        "user": given.get("ansible_user"),
        "private_key_file": given.get("ansible_ssh_private_key_file") or private_key_file,
        "ssh_args": given.get("ansible_ssh_common_args") or "",
    }


class ActionModule(ActionBase):
    """Runs ssh from the controller (never on a host) and prints who is still silent after each poll."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGS)[1]
        cli_key = getattr(self._play_context, "private_key_file", None)  # --private-key, as Ansible's ssh uses it
        nodes = [to_node(host, args["overrides"], cli_key) for host in args["hosts"]]
        display = Display()
        outcome = wait_for_ssh(
            nodes,
            timeout=args["timeout"],
            interval=max(args["interval"], 1),
            connect_timeout=max(args["connect_timeout"], 1),
            progress=display.display,
        )
        result.update(
            changed=False,
            answered=outcome.answered,
            silent=sorted(outcome.silent),
            refused=sorted(outcome.refused),
            errors={**outcome.silent, **outcome.refused},
            elapsed=round(outcome.elapsed, 1),
            polls=outcome.polls,
        )
        return result
