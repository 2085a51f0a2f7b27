"""scripts/test-streams.sh (make test): every tier runs once, in its stream's order, and a failing tier stops its
stream and fails the run. make is replaced by a stub that records what it was asked to make."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "test-streams.sh"
SCENARIOS = sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml"))
STUB = """#!/usr/bin/env bash
skip=0  # -o NAME: a target make is told not to remake, not one it makes
for arg; do
  if [ $skip = 1 ]; then skip=0; elif [ "$arg" = -o ]; then skip=1; elif [ "${arg#-}" = "$arg" ]; then
    printf '%s\\n' "$arg" >> "$RECORD"
  fi
done
for arg; do [ "$arg" = "$FAIL_TIER" ] && { echo "why $arg failed"; exit 3; }; done
exit 0
"""


def run_streams(tmp_path: Path, fail: str = "", sequential: bool = False) -> tuple[int, str, list[str]]:
    stub, record = tmp_path / "make", tmp_path / "record"
    stub.write_text(STUB)
    stub.chmod(0o755)
    env = {**os.environ, "MAKE": str(stub), "RECORD": str(record), "FAIL_TIER": fail}
    if sequential:
        env["DISCO_TEST_STREAMS"] = "1"
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    made = record.read_text().splitlines() if record.exists() else []
    return result.returncode, result.stdout, made


SUMMARY = "== make test: tiers =="


def stream_lines(output: str, stream: str) -> list[str]:
    """The tier lines a stream printed as it went (the summary at the end repeats them)."""
    live = output.split(SUMMARY)[0]
    return [line for line in live.splitlines() if line.startswith(f"[{stream}] tier ")]


def summary(output: str) -> list[str]:
    assert SUMMARY in output, output
    return output.split(SUMMARY)[1].strip().splitlines()


def scenarios_made(made: list[str]) -> list[str]:
    return sorted(name for arg in made if arg.startswith("MOLECULE_SCENARIOS=") for name in arg.split("=")[1].split())


@pytest.mark.parametrize("sequential", [False, True])
def test_every_tier_once(tmp_path: Path, sequential: bool) -> None:
    status, output, made = run_streams(tmp_path, sequential=sequential)
    assert status == 0, output
    targets = [arg for arg in made if "=" not in arg]
    assert sorted(targets) == sorted(["lint", "sanity", "build", "molecule", "unit", "playbooks", "e2e", "molecule"])
    assert scenarios_made(made) == SCENARIOS, "every molecule scenario runs, in exactly one stream"
    checks = [line.split()[2] for line in stream_lines(output, "checks")]
    assert checks == ["lint", "sanity", "build", "molecule", "unit", "playbooks"], output
    assert [line.split()[2] for line in stream_lines(output, "disco")] == ["e2e", "molecule"], output
    assert "[disco] tier molecule disco passed" in output, "the scenario that builds Disco is in the disco stream"
    assert output.rstrip().endswith("make test: all tiers passed")
    assert "failed stream" not in output, "nothing is replayed when all passed"
    lines = summary(output)
    assert len([line for line in lines if " tier " in line]) == 8, lines


def test_a_failing_tier_stops_its_stream_only(tmp_path: Path) -> None:
    status, output, made = run_streams(tmp_path, fail="sanity")
    assert status != 0
    assert "[checks] tier sanity FAILED (exit 3)" in output, output
    assert "build" not in made and "unit" not in made and "playbooks" not in made, made
    assert "[checks] stream FAILED" in output and "[disco] stream passed" in output, output
    assert output.rstrip().endswith("make test: a stream failed (its last lines are just above)")
    replay = output.split("== make test: the last 120 lines of the failed stream 'checks' ==")
    assert len(replay) == 2, "the failed stream's end is printed again, after both streams ended"
    assert "[checks] why sanity failed" in replay[1].split(SUMMARY)[0], output
    assert "[disco]" not in replay[1].split(SUMMARY)[0], "only the failed stream's lines are replayed"
    assert any(line.startswith("[checks] tier sanity FAILED (exit 3)") for line in summary(output)), output


def test_a_failing_e2e_skips_the_disco_scenario(tmp_path: Path) -> None:
    status, output, made = run_streams(tmp_path, fail="e2e")
    assert status != 0
    assert "disco" not in scenarios_made(made), made
    assert "[checks] stream passed" in output and "[disco] stream FAILED" in output, output
