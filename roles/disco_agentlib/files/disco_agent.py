# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the node agents share (disco-lifetime, disco-spot-watch): journal lines and JSON files. Standard library only.

Installed by the role disco_agentlib in ``/usr/local/lib/disposable-disco``, where the agents import it from.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def log(priority: int, message: str) -> None:
    """One journal line at ``priority`` (syslog levels: 2 critical, 4 warning, 6 info) through stdout."""
    print(f"<{priority}>{message}", flush=True)


def load_json(path: str) -> dict[str, Any]:
    """The JSON object in ``path``; {} when the file is missing, unreadable or holds no object."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(path: str, value: dict[str, Any], mode: int = 0o644) -> None:
    """Write atomically (readers never see half a file), with ``mode``; makes the directory when missing."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(value, out, indent=1, sort_keys=True)
        out.write("\n")
    os.chmod(temporary, mode)
    os.replace(temporary, path)
