"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# moto loads its AMIs when its EC2 models are first imported: one official-looking Debian image per release and
# architecture, the same file the local cloud's moto loads (moto does not check the AMI of RunInstances).
DEBIAN_AMIS = REPO / "roles" / "disco_localcloud" / "files" / "debian-amis.json"
os.environ.setdefault("MOTO_AMIS_PATH", str(DEBIAN_AMIS))

from support.motoserver import MotoServer  # noqa: E402


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session; each test that changes AWS state should call moto_server.reset()."""
    server = MotoServer.start()
    yield server
    server.stop()


@pytest.fixture()
def moto(moto_server: MotoServer) -> MotoServer:
    """A moto server with no resources and an empty call record."""
    moto_server.reset()
    return moto_server


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def ansible_env() -> dict[str, str]:
    """Environment for ansible-playbook runs from the repository root with the project's ansible.cfg."""
    if not shutil.which("ansible-playbook"):
        pytest.fail("ansible-playbook is not on PATH: run the tests through `make test` (or `make setup` first)")
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        }
    )
    return env
