"""Disco's functional suite as the tests run it: the table of playbooks/disco_suite.yml (role disco_suite), read back.

The role writes a Markdown table (disco_suite_report): one row per module run, with its counts and result, a row
per module that does not apply ("n/a: reason"), and a totals row. Only the rows of modules that ran match ROW.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROW = re.compile(r"^\| (test_\w+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\w+) \| ([\d.]+) \|$", re.M)


@dataclass(frozen=True)
class ModuleResult:
    """One module's row: how many tests, how they ended, the role's verdict and the wall time of `disco test`."""

    module: str
    tests: int
    passed: int
    skipped: int
    failed: int
    not_applicable: int
    result: str
    seconds: float


def results(table: str) -> list[ModuleResult]:
    """The rows of the modules that ran, in the table's order."""
    return [
        ModuleResult(m, int(t), int(p), int(s), int(f), int(n), r, float(sec))
        for m, t, p, s, f, n, r, sec in ROW.findall(table)
    ]


def not_passed(rows: list[ModuleResult]) -> dict[str, str]:
    """Module -> result, for every module whose result is not a pass (skips never count as passes)."""
    return {row.module: row.result for row in rows if row.result != "pass"}


def summary(rows: list[ModuleResult], seconds: float) -> str:
    """A figure line: modules, tests passed, wall time of the whole run."""
    passed = sum(row.passed for row in rows)
    return f"{len(rows)} modules, {passed} of {sum(row.tests for row in rows)} tests passed, in {seconds:.0f} s"
