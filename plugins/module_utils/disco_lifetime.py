# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a cluster ends itself: its first launch (the ``disco-started`` tag), its deadline and the time left.

Pure functions, no AWS call. The first launch's time lives in the tag ``disco-started`` (ISO 8601, UTC) of every
node, given at creation (the fleet's tag specifications) with the value the running nodes already carry, so a
re-run, a replaced slave or a scaled group keeps the cluster's first launch. Nodes of a version before the tag
count from their own launch time. A cluster with no node left starts afresh.

The master enforces both limits (roles/disco_lifetime); the launch plan and ``status.yml`` only show them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

TAG_STARTED = "disco-started"


def parse_time(text: str) -> dt.datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) as an aware datetime, or None."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def format_time(value: dt.datetime) -> str:
    """UTC, to the second, with ``Z``: the form of the tag."""
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def started_at(nodes: list[dict[str, Any]], now: dt.datetime) -> str:
    """The cluster's first launch: the earliest ``disco-started`` tag (else launch time) of its live nodes, or now."""
    times = []
    for node in nodes:
        value = parse_time((node.get("tags") or {}).get(TAG_STARTED, "")) or parse_time(node.get("launch_time", ""))
        if value is not None:
            times.append(value)
    return format_time(min(times) if times else now)


def span(seconds: float) -> str:
    """A duration for people: ``3 d 4 h``, ``7 h 12 min``, ``5 min``."""
    minutes = max(0, int(seconds // 60))
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def hours_text(hours: float) -> str:
    return f"{hours:g} h"


def lifetime(started: str, idle_timeout: int, max_lifetime: float, now: dt.datetime) -> dict[str, Any]:
    """The cluster's limits: start, deadline (``max_lifetime`` hours after the start; empty without one), left."""
    start = parse_time(started) or now
    deadline = start + dt.timedelta(hours=max_lifetime) if max_lifetime else None
    return {
        "started": format_time(start),
        "idle_timeout": idle_timeout,
        "max_lifetime": max_lifetime,
        "deadline": format_time(deadline) if deadline else "",
        "seconds_left": max(0, int((deadline - now).total_seconds())) if deadline else None,
    }


def lifetime_lines(facts: dict[str, Any], running: bool) -> list[str]:
    """How the cluster ends itself, in one or two lines of the plan or the status."""
    idle = facts["idle_timeout"]
    idle_text = (
        f"after {idle} min without a Disco job (disco_idle_timeout)"
        if idle
        else "never for want of jobs (disco_idle_timeout: 0)"
    )
    lines = [f"Ends itself: {idle_text}"]
    if facts["deadline"]:
        left = facts["seconds_left"]
        when = f"in {span(left)}" if left else "now: past its lifetime"
        since = "launched" if running else "from its launch"
        lines.append(
            f"  and at {facts['deadline']} ({when}), {hours_text(facts['max_lifetime'])} {since} at"
            f" {facts['started']} (disco_max_lifetime)"
        )
    else:
        lines.append("  no lifetime limit (disco_max_lifetime: 0): only teardown.yml or the idle timeout end it")
    return lines
