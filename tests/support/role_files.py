"""Import a script the roles install on nodes (roles/*/files/*.py) as a module, for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load(name: str, path: str) -> ModuleType:
    """The file at ``path`` (relative to the repository) as module ``name``, registered in sys.modules."""
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
