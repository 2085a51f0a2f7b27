"""Benchmark: the heavy modules of Disco's functional suite (test_pipe, test_gc, test_50k) on a running cluster.

    .venv/bin/python bench/disco_suite.py --modules test_pipe test_gc   # what a 2-core machine finishes (~17 min)
    .venv/bin/python bench/disco_suite.py --timeout 14400               # the whole heavy set, test_50k included
    DISCO_SUITE_CONFIG=my.yml .venv/bin/python bench/disco_suite.py --timeout 3600 --modules test_50k

On a 1+2 local cloud of 2 cores test_pipe takes ~12 min and test_gc ~5 min; test_50k (50,000 map tasks) runs at a
few tasks per second there, hours in all (docs/disco-on-debian.md has the measured rate), so it is run on
purpose, with a bound to match.

Runs playbooks/disco_suite.yml (scripts/disco-suite.sh) with disco_suite_set=heavy, or the named modules, and
prints each module's result and seconds as the role measured them (wall time of `disco test MODULE` on the master).
Exits non-zero when a module did not pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per module (default 1800)")
    parser.add_argument("--modules", nargs="*", default=[], help="modules instead of the heavy set")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "suite.md"
        extra = {
            "disco_suite_set": "heavy",
            "disco_suite_modules": args.modules,
            "disco_suite_timeout": args.timeout,
            "disco_suite_report": str(report),
            "disco_suite_fail": False,
        }
        run = subprocess.run([str(REPO / "scripts" / "disco-suite.sh"), "-e", json.dumps(extra)], check=False)
        if run.returncode != 0 or not report.exists():
            print("the suite's playbook failed", file=sys.stderr)
            return run.returncode or 1
        rows = [line for line in report.read_text().splitlines() if line.startswith("| test_")]

    failed = 0
    print(f"{'module':<16} {'tests':>5} {'result':<8} {'seconds':>8}")
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        module, tests, result, seconds = cells[0], cells[1], cells[6], cells[7]
        print(f"{module:<16} {tests:>5} {result:<8} {seconds:>8}")
        failed += result != "pass"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
