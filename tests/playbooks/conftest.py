"""Fixtures of the playbook tests (the helpers live in ec2lab.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ec2lab import Lab
from support.motoserver import MotoServer


@pytest.fixture()
def provision_env(ansible_env: dict[str, str], moto_server: MotoServer) -> dict[str, str]:
    """ansible-playbook's environment: moto's endpoint and region; credentials only from the configuration."""
    env = {**ansible_env, **moto_server.env}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    return env


@pytest.fixture()
def lab(moto: MotoServer, provision_env: dict[str, str], tmp_path: Path) -> Lab:
    """A fresh moto server for one test."""
    return Lab(moto=moto, env=provision_env, workdir=tmp_path)


@pytest.fixture(scope="module")
def module_lab(
    moto_server: MotoServer, ansible_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    """One moto server state shared by the tests of a module, which run in order as the steps of a scenario."""
    moto_server.reset()
    env = {**ansible_env, **moto_server.env}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    yield Lab(moto=moto_server, env=env, workdir=tmp_path_factory.mktemp("lab"))
    moto_server.reset()
