# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter to_legacy_config: native disco_* settings to the original disposabledisco config.json keys."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.disposable.disco.plugins.plugin_utils.cluster_config import NATIVE_TO_LEGACY

DOCUMENTATION = r"""
name: to_legacy_config
short_description: Turn native disco_* settings into the original config.json keys
version_added: 0.1.0
author:
  - disposable.disco developers (@disposable-disco)
description:
  - Keeps the settings the original disposabledisco C(config.json) had and renames them to its upper-case keys.
  - Public keys (C(disco_mgmt_keys)) become one newline-separated C(MGMT_KEY) string, as the original wrote them.
options:
  _input:
    description: A mapping of native C(disco_*) settings.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write the original JSON form
  ansible.builtin.copy:
    content: "{{ my_settings | disposable.disco.to_legacy_config | to_nice_json }}"
    dest: config.json
    mode: "0600"
"""

RETURN = r"""
_value:
  description: The same settings under their legacy names; native-only settings are left out.
  type: dict
"""


def to_legacy_config(native: Any) -> dict[str, Any]:
    if not isinstance(native, dict):
        raise AnsibleFilterError("to_legacy_config expects a mapping of disco_* settings")
    legacy: dict[str, Any] = {}
    for name, value in native.items():
        key = NATIVE_TO_LEGACY.get(name)
        if key is None:
            continue
        if key == "MGMT_KEY" and isinstance(value, list):
            value = "".join(f"{line}\n" for line in value)
        legacy[key] = value
    return dict(sorted(legacy.items()))


class FilterModule:
    """disposable.disco filters."""

    def filters(self) -> dict[str, Any]:
        return {"to_legacy_config": to_legacy_config}
