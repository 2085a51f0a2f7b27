# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""disco-lifetime: a disposable.disco cluster ends itself, laptop closed or not. Standard library only.

Run by a systemd timer on every node (``disco-lifetime.timer``), as root, every ``interval`` seconds.

On the master, it reads Disco's job list (``/disco/ctrl/joblist``): the cluster is busy while a job is active;
its idle time counts from the last job seen, or from the last change of its settings file (a launch.yml that
changed them), or from the agent's first run. When the idle time reaches
``idle_timeout`` or the clock passes the deadline (``max_lifetime`` hours after ``started``, the cluster's first
launch), it publishes "ending" in a status file that Disco's own web server serves to the nodes
(``<DISCO_WWW_ROOT>/disco-lifetime.json``), waits ``grace`` seconds for the slaves to see it, and powers the
master off. ``warning`` seconds before, it says so in the journal and in the login message (``/run/motd.d``).

On a slave, it reads that status file from the master and powers the slave off when the master says the
cluster ends, when the master has not answered for ``idle_timeout`` (a master that is gone runs no job), or
when the deadline is more than two grace periods past.

The nodes are launched with instance-initiated shutdown behaviour *terminate*: powering off ends the instance
and its billing, with no AWS credentials on any node. State (first run, last busy time) survives reboots in
``state_dir``. Each run is one look; ``--dry-run`` says what it would do instead of powering off.

It imports its helpers from ``LIBRARY`` (role disco_agentlib): ``disco_agent`` (shared with disco-spot-watch) and
``disco_lifetime`` (the collection's module_utils, which reads and writes the times as the controller does).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

# The agents' library (roles/disco_agentlib): their shared helpers and the collection's module_utils/disco_lifetime.py.
LIBRARY = "/usr/local/lib/disposable-disco"
sys.path.append(LIBRARY)

from disco_agent import load_json, log, write_json  # noqa: E402
from disco_lifetime import format_time, parse_time  # noqa: E402

CONFIG = "/etc/disco-lifetime.json"
STATUS_NAME = "disco-lifetime.json"
TIMEOUT = 10  # seconds for one HTTP request to the master


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime | None) -> str:
    """A time as the tag ``disco-started`` writes it; "" for none."""
    return "" if value is None else format_time(value)


def span(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min"


# ----------------------------------------------------------------------------------------------------- state


def deadline_of(config: dict[str, Any], state: dict[str, Any]) -> dt.datetime | None:
    """``max_lifetime`` hours after the cluster's first launch (else the agent's first run); None without one."""
    hours = float(config.get("max_lifetime") or 0)
    if hours <= 0:
        return None
    start = parse_time(config.get("started")) or parse_time(state.get("first_seen"))
    return start + dt.timedelta(hours=hours) if start else None


# ---------------------------------------------------------------------------------------------------- master


def jobs_of(answer: Any) -> list[tuple[float, str, str]] | None:
    """Disco's joblist answer ([[start seconds, status, name], ...]) as tuples; None when it is not one."""
    if not isinstance(answer, list):
        return None
    jobs = []
    for item in answer:
        if isinstance(item, list) and len(item) == 3:
            jobs.append((float(item[0]), str(item[1]), str(item[2])))
    return jobs


def master_look(
    config: dict[str, Any],
    state: dict[str, Any],
    jobs: list[tuple[float, str, str]] | None,
    now: dt.datetime,
    settings_changed: dt.datetime | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One look on the master: the new state and the decision (``end``: why the cluster ends now, or empty).

    ``jobs`` is Disco's job list, or None when Disco did not answer (then the cluster counts as idle: a master
    whose Disco is down runs no job, and must not bill for ever). ``settings_changed`` (when the settings file
    was last written: a launch.yml that changed them) counts as activity, so that a shorter idle timeout never
    ends the cluster under the run that set it.
    """
    state = dict(state)
    state.setdefault("first_seen", iso(now))
    last_busy = parse_time(state.get("last_busy")) or parse_time(state["first_seen"]) or now
    if settings_changed is not None:
        last_busy = max(last_busy, min(settings_changed, now))
    active = [name for _start, status, name in jobs or [] if status == "active"]
    if active:
        last_busy = now
    elif jobs:
        newest = dt.datetime.fromtimestamp(max(start for start, _status, _name in jobs), dt.UTC)
        last_busy = max(last_busy, min(newest, now))
    state["last_busy"] = iso(last_busy)
    idle_timeout = int(config.get("idle_timeout") or 0)
    deadline = deadline_of(config, state)
    candidates = []
    if idle_timeout and not active:
        candidates.append((last_busy + dt.timedelta(seconds=idle_timeout), "idle"))
    if deadline:
        candidates.append((deadline, "lifetime"))
    ends_at, why = min(candidates) if candidates else (None, "")
    end = ""
    if ends_at is not None and now >= ends_at:
        end = (
            f"no Disco job for {span((now - last_busy).total_seconds())} (disco_idle_timeout {idle_timeout // 60} min)"
            if why == "idle"
            else f"its lifetime ended at {iso(deadline)} (disco_max_lifetime {float(config['max_lifetime']):g} h)"
        )
    decision = {
        "end": end,
        "ends_at": iso(ends_at),
        "why": why,
        "seconds_left": max(0, int((ends_at - now).total_seconds())) if ends_at else None,
        "active_jobs": active,
        "disco_answered": jobs is not None,
        "idle_since": "" if active else iso(last_busy),
        "deadline": iso(deadline),
    }
    return state, decision


def status_document(decision: dict[str, Any], now: dt.datetime, ending: bool) -> dict[str, Any]:
    """What the master publishes for the slaves (and for people: curl http://master:8989/disco-lifetime.json)."""
    return {
        "ending": ending,
        "reason": decision["end"],
        "ends_at": decision["ends_at"],
        "idle_since": decision["idle_since"],
        "active_jobs": len(decision["active_jobs"]),
        "deadline": decision["deadline"],
        "updated": iso(now),
    }


def warning_text(decision: dict[str, Any]) -> str:
    left = span(decision["seconds_left"] or 0)
    if decision["why"] == "idle":
        return (
            f"disposable.disco: this cluster ends itself in {left} ({decision['ends_at']}) unless a Disco job "
            "starts (disco_idle_timeout): every node shuts down and is terminated"
        )
    return (
        f"disposable.disco: this cluster ends itself in {left} ({decision['ends_at']}), jobs or not "
        "(disco_max_lifetime): every node shuts down and is terminated"
    )


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
        return json.loads(answer.read().decode("utf-8"))


def read_jobs(config: dict[str, Any]) -> list[tuple[float, str, str]] | None:
    try:
        return jobs_of(fetch_json(config["master_url"].rstrip("/") + "/disco/ctrl/joblist"))
    except (OSError, ValueError, urllib.error.URLError):
        return None


def set_motd(config: dict[str, Any], text: str) -> None:
    path = config.get("motd") or ""
    if not path:
        return
    if text:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    elif os.path.exists(path):
        os.remove(path)


def changed_at(path: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC)
    except OSError:
        return None


def master_run(config: dict[str, Any], dry_run: bool, config_path: str = CONFIG) -> int:
    state_path = os.path.join(config["state_dir"], "state.json")
    now = now_utc()
    jobs = read_jobs(config)
    state, decision = master_look(config, load_json(state_path), jobs, now, changed_at(config_path))
    write_json(state_path, state, 0o600)
    if jobs is None:
        log(4, f"Disco's master did not answer at {config['master_url']}: counted as idle")
    ending = bool(decision["end"])
    write_json(config["status_file"], status_document(decision, now, ending))
    if ending and state.get("ending"):  # announced by an earlier look: the power-off is on its way, or is retried
        log(4, f"disposable.disco: the cluster is ending since {state['ending']}; powering off")
        return power_off(config, dry_run, wait=0)
    if ending:
        state["ending"] = iso(now)
        write_json(state_path, state, 0o600)
        set_motd(config, f"disposable.disco: this cluster is ending now: {decision['end']}")
        log(
            2,
            f"disposable.disco: the cluster ends now: {decision['end']}; the slaves follow within "
            f"{config['grace']} s, then the master powers off",
        )
        return power_off(config, dry_run, wait=int(config.get("grace") or 0))
    if state.pop("ending", None):  # a job started in time, or the settings changed: no end after all
        write_json(state_path, state, 0o600)
    near = decision["seconds_left"] is not None and decision["seconds_left"] <= int(config.get("warning") or 0)
    set_motd(config, warning_text(decision) if near else "")
    if near:
        log(4, warning_text(decision))
    return 0


# ----------------------------------------------------------------------------------------------------- slave


def slave_look(
    config: dict[str, Any], state: dict[str, Any], status: dict[str, Any] | None, now: dt.datetime
) -> tuple[dict[str, Any], str]:
    """One look on a slave: the new state and why it powers off now (empty: it stays)."""
    state = dict(state)
    state.setdefault("first_seen", iso(now))
    if status is not None:
        state["master_seen"] = iso(now)
        if status.get("deadline"):
            state["deadline"] = status["deadline"]
        if status.get("ending"):
            return state, f"the master ends the cluster: {status.get('reason') or 'no reason given'}"
    seen = parse_time(state.get("master_seen")) or parse_time(state["first_seen"]) or now
    idle_timeout = int(config.get("idle_timeout") or 0)
    grace = int(config.get("grace") or 0)
    silent = (now - seen).total_seconds()
    if idle_timeout and silent >= idle_timeout + grace:
        return state, f"the master has not answered for {span(silent)} (disco_idle_timeout {idle_timeout // 60} min)"
    deadline = deadline_of(config, state) or parse_time(state.get("deadline"))
    if deadline and now >= deadline + dt.timedelta(seconds=2 * grace):
        return state, f"its lifetime ended at {iso(deadline)} and the master did not end it"
    return state, ""


def read_status(config: dict[str, Any]) -> dict[str, Any] | None:
    """The master's status file; {} when the master answers without one (not written yet); None when silent."""
    try:
        answer = fetch_json(config["master_url"].rstrip("/") + "/" + STATUS_NAME)
    except urllib.error.HTTPError:
        return {}
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return answer if isinstance(answer, dict) else None


def slave_run(config: dict[str, Any], dry_run: bool) -> int:
    state_path = os.path.join(config["state_dir"], "state.json")
    state, end = slave_look(config, load_json(state_path), read_status(config), now_utc())
    write_json(state_path, state, 0o600)
    if not end:
        return 0
    log(2, f"disposable.disco: this node powers off: {end}")
    return power_off(config, dry_run, wait=0)


# ------------------------------------------------------------------------------------------------------ both


def power_off(config: dict[str, Any], dry_run: bool, wait: int) -> int:
    command = list(config.get("poweroff_command") or ["systemctl", "poweroff"])
    if dry_run:
        print(f"dry run: would wait {wait} s, then run {' '.join(command)}", flush=True)
        return 0
    time.sleep(wait)
    return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG, help=f"settings file (default {CONFIG})")
    parser.add_argument("--dry-run", action="store_true", help="say what would happen instead of powering off")
    args = parser.parse_args(argv)
    config = load_json(args.config)
    if config.get("role") not in ("master", "slave"):
        print(f"{args.config}: no role (master or slave); nothing to do", file=sys.stderr)
        return 2
    if not int(config.get("idle_timeout") or 0) and not float(config.get("max_lifetime") or 0):
        return 0
    if config["role"] == "master":
        return master_run(config, args.dry_run, args.config)
    return slave_run(config, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
