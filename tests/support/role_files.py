"""Import a file of this tree as a module, for the tests: a script the roles install on nodes (roles/*/files/*.py),
a bench's code (bench/)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]

# The agents' library as roles/disco_agentlib installs it on a node (/usr/local/lib/disposable-disco): the name a
# script imports -> the file of this tree that the role copies there.
AGENT_LIBRARY = {
    "disco_agent": "roles/disco_agentlib/files/disco_agent.py",
    "disco_lifetime": "plugins/module_utils/disco_lifetime.py",
}


def load(name: str, path: str) -> ModuleType:
    """The file at ``path`` (relative to the repository) as module ``name``, registered in sys.modules.

    The agents' library is registered first under the names the node gives it, so a script imports this tree's.
    """
    for library, library_path in AGENT_LIBRARY.items():
        if library not in sys.modules:
            _load(library, library_path)
    return _load(name, path)


def _load(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
