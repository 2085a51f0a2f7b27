# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin behind disposable.disco.cluster_config: validate the play's cluster configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.disposable.disco.plugins.plugin_utils.cluster_config import (
    FIELDS,
    LEGACY_TO_NATIVE,
    validate,
)

# The collection's roles: variables under their prefixes are role settings, not configuration typos.
ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"


def collection_roles() -> list[str]:
    return sorted(path.name for path in ROLES_DIR.iterdir() if path.is_dir()) if ROLES_DIR.is_dir() else []


class ActionModule(ActionBase):
    """Reads the task's variables (never contacts a host), returns the normalised configuration as facts."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def _role_defaults(self) -> dict[str, Any]:
        role = getattr(self._task, "_role", None)
        if role is None:
            return {}
        return {name: value for name, value in role.get_default_vars().items() if name in FIELDS}

    def _given(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        """The configuration-looking variables, with templates rendered (secrets stay in this process)."""
        names = [
            name
            for name in task_vars
            if name in LEGACY_TO_NATIVE or name.startswith("disco_") or (name.isupper() and not name.startswith("_"))
        ]
        given: dict[str, Any] = {}
        for name in names:
            given[name] = self._templar.template(task_vars[name])
        return given

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        cluster, credentials, errors = validate(self._given(task_vars), self._role_defaults(), collection_roles())
        result["changed"] = False
        result["errors"] = errors
        if not errors:
            result["ansible_facts"] = {"disco_cluster": cluster, "disco_cluster_aws": credentials}
        return result
