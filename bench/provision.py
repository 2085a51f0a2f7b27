"""Benchmark provisioning against moto: launch, no-op re-run and teardown of 1+30 and 1+300 clusters.

    .venv/bin/python bench/provision.py            # both sizes
    .venv/bin/python bench/provision.py 30 100     # other slave counts

For each size and phase it prints the wall time, the number of AWS API calls (and which), and Ansible's
changed count. Targets (issue 10, each raised by one in issue 14 for the DescribeSpotPriceHistory of the cost):
a 1+300 launch in at most 21 AWS calls, launch templates included; a no-op re-run in at most 11; a teardown in at
most 20.
Runs the real ``ansible-playbook playbooks/launch.yml --tags provision`` and ``playbooks/teardown.yml``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.motoserver import MotoServer  # noqa: E402

RECAP = re.compile(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.M)
TARGETS = {
    ("launch", 300): 21,
    ("no-op re-run", 300): 11,
    ("no-op re-run", 30): 11,
    ("teardown", 300): 20,
    ("teardown", 30): 20,
}


def ansible_env(moto: MotoServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(moto.env)
    env.update(
        {
            "PATH": f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        }
    )
    return env


def run(moto: MotoServer, env: dict[str, str], args: list[str]) -> dict:
    moto.start_recording()
    start = time.monotonic()
    result = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    calls = moto.call_counts()
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-2000:])
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode})")
    recap = RECAP.findall(result.stdout)
    return {"seconds": seconds, "calls": calls, "changed": int(recap[-1][0]) if recap else -1}


def bench(slaves: int, moto: MotoServer, env: dict[str, str], workdir: Path) -> list[tuple[str, dict]]:
    moto.reset()
    config = workdir / f"config-{slaves}.json"
    config.write_text(
        json.dumps(
            {
                "disco_cluster_name": f"bench{slaves}",
                "disco_ami": "ami-12c6146b",
                "disco_num_slaves": slaves,
                "disco_max_price": "0.05",
                "disco_ssh_cidrs": ["198.51.100.0/24"],
                "disco_ec2_poll_interval": 2,
            }
        )
    )
    launch = ["ansible-playbook", "playbooks/launch.yml", "-e", f"@{config}", "--tags", "provision"]
    teardown = ["ansible-playbook", "playbooks/teardown.yml", "-e", f"@{config}"]
    return [
        ("launch", run(moto, env, launch)),
        ("no-op re-run", run(moto, env, launch)),
        ("teardown", run(moto, env, teardown)),
        ("no-op teardown", run(moto, env, teardown)),
    ]


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [30, 300]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    moto = MotoServer.start()
    env = ansible_env(moto)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for slaves in sizes:
                for phase, result in bench(slaves, moto, env, Path(tmp)):
                    rows.append((slaves, phase, result))
                    print(
                        f"1+{slaves} {phase}: {result['seconds']:.1f}s, {sum(result['calls'].values())} calls",
                        file=sys.stderr,
                    )
    finally:
        moto.stop()

    print("| cluster | phase          | wall time | EC2 calls      | changed | calls by name")
    print("|---------|----------------|-----------|----------------|---------|--------------")
    failures = []
    for slaves, phase, result in rows:
        total = sum(result["calls"].values())
        by_name = ", ".join(f"{name} {count}" for name, count in sorted(Counter(result["calls"]).items()))
        target = TARGETS.get((phase, slaves))
        mark = "" if target is None else (f" (<= {target})" if total <= target else f" (> {target}!)")
        if target is not None and total > target:
            failures.append(f"1+{slaves} {phase}: {total} calls > {target}")
        calls = f"{total}{mark}"
        print(
            f"| 1+{slaves:<5} | {phase:<14} | {result['seconds']:7.1f} s | {calls:<14} | {result['changed']:>7} "
            f"| {by_name}"
        )
    if failures:
        raise SystemExit("targets missed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
