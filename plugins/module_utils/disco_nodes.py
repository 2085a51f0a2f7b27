# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disco's node table: its wire format, comparison and the master's HTTP API (standard library only).

Disco (master/src/disco_web.erl, disco_config.erl) keeps the table as JSON rows ``[host, workers]``, both strings:

- ``GET  /disco/ctrl/load_config_table`` answers the rows as they were saved;
- ``POST /disco/ctrl/save_config_table`` takes the rows as the body and answers ``"table saved!"``, or HTTP 400
  with a JSON string (``"duplicate nodes"``, ``"invalid config"``, a validation message).

A host field may also be a range, ``node01:node12`` (the last field's width and digits), which Disco expands.
Disco stores the nodes in a tree keyed by host name: the order of the rows means nothing to it.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

LOAD_PATH = "/disco/ctrl/load_config_table"
SAVE_PATH = "/disco/ctrl/save_config_table"
SAVED = "table saved!"
RETRY_PAUSE = 1.0  # seconds between two attempts to reach the master
MAX_REQUEST_TIMEOUT = 10.0  # seconds one request may take, within the overall timeout

Table = dict[str, int]  # host -> number of workers


class DiscoMasterError(Exception):
    """The master did not answer, or answered something that is not a node table."""


class DiscoTableError(Exception):
    """The master refused the table (HTTP 400 with Disco's message)."""


def check_nodes(nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every problem with the wanted nodes, one message each; empty when Disco will accept them."""
    errors = []
    seen: set[str] = set()
    for index, node in enumerate(nodes, start=1):
        host = str(node.get("host") or "")
        workers = node.get("workers")
        where = f"nodes[{index}]"
        if not host.strip():
            errors.append(f"{where}: host must not be empty")
        elif host != host.strip() or any(char.isspace() for char in host):
            errors.append(f"{where}: host {host!r} must not contain white space")
        elif ":" in host:
            errors.append(f"{where}: host {host!r} must be one host name (Disco reads 'a:b' as a range)")
        elif host in seen:
            errors.append(f"{where}: host {host!r} is listed twice (Disco refuses duplicate nodes)")
        seen.add(host)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            errors.append(f"{where}: workers must be a whole number, 0 or more, got {workers!r}")
    return errors


def wanted_table(nodes: Iterable[Mapping[str, Any]]) -> Table:
    """The table the nodes describe (checked with check_nodes first)."""
    return {str(node["host"]): int(node["workers"]) for node in nodes}


def to_rows(nodes: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """The body Disco's save_config_table takes: ``[[host, workers], ...]`` as strings, in the given order."""
    return [[str(node["host"]), str(int(node["workers"]))] for node in nodes]


def _expand_range(first: str, last: str) -> list[str]:
    """Disco's expand_range: the last len(last) characters of first are the first number, last is the last one."""
    width = len(last)
    if width == 0 or width > len(first):
        raise ValueError(f"bad range {first}:{last}")
    prefix, start = first[:-width], first[-width:]
    if not (start.isdigit() and last.isdigit()):
        raise ValueError(f"bad range {first}:{last}")
    return [f"{prefix}{number:0{width}d}" for number in range(int(start), int(last) + 1)]


def parse_rows(rows: Any) -> Table:
    """The table Disco makes of its rows (ranges expanded); ValueError if Disco could not parse them either."""
    if not isinstance(rows, list):
        raise ValueError(f"a node table is a list of [host, workers] rows, got {rows!r}")
    table: Table = {}
    for row in rows:
        if not (isinstance(row, list) and len(row) == 2 and all(isinstance(field, str) for field in row)):
            raise ValueError(f"a row is [host, workers], two strings, got {row!r}")
        spec, workers = row[0].strip(), int(row[1].strip())
        tokens = [token for token in spec.split(":") if token]
        if len(tokens) == 1:
            hosts = tokens
        elif len(tokens) == 2:
            hosts = _expand_range(*tokens)
        else:
            raise ValueError(f"bad host {row[0]!r}")
        for host in hosts:
            if host in table:
                raise ValueError(f"host {host!r} is listed twice")
            table[host] = workers
    return table


def compare(current: Table, wanted: Table) -> dict[str, list[str]]:
    """Host names to add, remove and update (a different number of workers), each sorted."""
    return {
        "added": sorted(set(wanted) - set(current)),
        "removed": sorted(set(current) - set(wanted)),
        "updated": sorted(host for host in set(current) & set(wanted) if current[host] != wanted[host]),
    }


def as_nodes(table: Table) -> list[dict[str, Any]]:
    """The table as module output: ``[{host, workers}]`` sorted by host."""
    return [{"host": host, "workers": table[host]} for host in sorted(table)]


def render(table: Table) -> str:
    """The table as text for diff mode: one ``host workers`` line per node, sorted by host."""
    return "".join(f"{host} {table[host]}\n" for host in sorted(table))


# --- the master's HTTP API ----------------------------------------------------------------------------------------

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the master is never reached via a proxy


def _answer(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return body.decode("utf-8", "replace").strip()


def _request_once(url: str, data: bytes | None, timeout: float) -> Any:
    """One request: the decoded JSON answer. Raises DiscoTableError on 400, OSError when the master is not there."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return _answer(response.read())
    except urllib.error.HTTPError as error:
        message = _answer(error.read())
        if error.code == 400:
            raise DiscoTableError(f"the Disco master at {url} refused the table: {message}") from None
        if error.code >= 500:
            raise ConnectionError(f"HTTP {error.code}: {message}") from None
        raise DiscoMasterError(f"{url} answered HTTP {error.code} ({message}): is it a Disco master?") from None


def request(
    url: str,
    timeout: float,
    data: bytes | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """The master's answer, retried while it does not answer (refused, reset, timed out, 5xx) for timeout seconds."""
    deadline = clock() + timeout
    while True:
        remaining = deadline - clock()
        try:
            return _request_once(url, data, max(0.5, min(remaining, MAX_REQUEST_TIMEOUT)))
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, 5xx, torn answers
            reason = getattr(error, "reason", error)
            if clock() + RETRY_PAUSE > deadline:
                raise DiscoMasterError(
                    f"the Disco master at {url} is not answering (gave up after {timeout:g} s): {reason}"
                ) from None
            sleep(RETRY_PAUSE)


def load_table(base_url: str, timeout: float) -> Any:
    """The rows of the master's node table, as Disco answers them."""
    return request(base_url.rstrip("/") + LOAD_PATH, timeout)


def save_table(base_url: str, rows: list[list[str]], timeout: float) -> None:
    """Save the rows as the master's node table; DiscoTableError if Disco does not say it saved them."""
    url = base_url.rstrip("/") + SAVE_PATH
    answer = request(url, timeout, json.dumps(rows).encode("utf-8"))
    if answer != SAVED:
        raise DiscoTableError(f"the Disco master at {url} did not save the table: {answer!r}")
