# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin behind disposable.disco.cluster_config: validate the play's cluster configuration."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import load_extra_vars
from ansible_collections.disposable.disco.plugins.plugin_utils.cluster_config import (
    FIELDS,
    LEGACY_TO_NATIVE,
    deprecations,
    validate,
)

display = Display()

# The collection's roles: a variable under a role's prefix must be one its argument spec declares.
ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"


@lru_cache(maxsize=1)
def role_options() -> dict[str, frozenset[str]]:
    """Each role of the collection and the variables its meta/argument_specs.yml declares (every entry point)."""
    options: dict[str, frozenset[str]] = {}
    for spec_file in sorted(ROLES_DIR.glob("*/meta/argument_specs.yml")):
        specs = (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs") or {}
        names = {name for entry in specs.values() for name in (entry.get("options") or {})}
        options[spec_file.parents[1].name] = frozenset(names)
    return options


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

    def _user_names(self) -> set[str]:
        """The names given with -e (where a configuration file goes): those are the user's, not a role's."""
        return set(load_extra_vars(self._loader))

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        given = self._given(task_vars)
        cluster, credentials, errors = validate(given, self._role_defaults(), role_options(), self._user_names())
        result["changed"] = False
        result["errors"] = errors
        for message in deprecations(given):  # printed here: the task's result is no_log
            display.deprecated(message, version="2.0.0", collection_name="disposable.disco")  # RENAMED_IN_VERSION
        if not errors:
            result["ansible_facts"] = {"disco_cluster": cluster, "disco_cluster_aws": credentials}
        return result
