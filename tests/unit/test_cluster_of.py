"""scripts/cluster-of.py: the name and the local-cloud switch the shell scripts read before any playbook runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cluster_of(path: Path) -> str:
    run = subprocess.run(
        [sys.executable, "scripts/cluster-of.py", str(path)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("disco_cluster_name: alpha\ndisco_local_cloud: true\n", "alpha true"),
        ("disco_cluster_name: alpha\n", "alpha false"),
        ('{"TAG_KEY": "x", "CLUSTER_NAME": "beta"}', "disco false"),  # validation refuses CLUSTER_NAME: not read
        ("", "disco false"),
    ],
)
def test_name_and_local_cloud(text, expected, tmp_path):
    path = tmp_path / "config.yml"
    path.write_text(text)
    assert cluster_of(path) == expected


def test_the_local_example_is_the_local_cloud():
    assert cluster_of(REPO / "examples/local.yml") == "local true"
