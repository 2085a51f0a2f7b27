# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""disco-spot-watch: listen for EC2's spot interruption notice and rebalance recommendation. Standard library only.

Runs on every node as a systemd service (``disco-spot-watch.service``) and polls the instance metadata service
every ``interval`` seconds (AWS advises 5) with IMDSv2 session tokens:

- ``/latest/meta-data/spot/instance-action``: ``{"action": "terminate|stop|hibernate", "time": ...}`` about two
  minutes before EC2 interrupts the spot instance; 404 otherwise;
- ``/latest/meta-data/events/recommendations/rebalance``: ``{"noticeTime": ...}`` when the instance is at elevated
  risk of interruption; 404 otherwise.

On either, a slave tells the master to give it no new task (Disco's node blacklist: ``POST /disco/ctrl/blacklist``
with the node's name), so the tasks it runs finish or are retried elsewhere and no new one is lost with it; the
master, which cannot hand its work on, warns in its journal. Each notice is acted on once (state in
``state_dir``). The next ``launch.yml`` replaces the lost node and fixes the node table.

The metadata service is at ``http://169.254.169.254``, or where ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` says (as
for boto3; the local cloud sets it). A host without one (not on EC2) is polled less often, quietly.

It imports its helpers (``disco_agent``, shared with disco-lifetime) from ``LIBRARY`` (role disco_agentlib).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

# The agents' library (roles/disco_agentlib): the helpers shared with disco-lifetime.
LIBRARY = "/usr/local/lib/disposable-disco"
sys.path.append(LIBRARY)

from disco_agent import load_json, log, write_json  # noqa: E402

CONFIG = "/etc/disco-spot-watch.json"
DEFAULT_ENDPOINT = "http://169.254.169.254/"
TOKEN_TTL = 21600  # seconds, the most IMDSv2 grants
NOTICES = {
    "interruption": "latest/meta-data/spot/instance-action",
    "rebalance": "latest/meta-data/events/recommendations/rebalance",
}
TIMEOUT = 2  # seconds per metadata request
QUIET_BACKOFF = 60  # seconds between polls while no metadata service answers


def endpoint(config: dict[str, Any]) -> str:
    url = config.get("imds_url") or os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_ENDPOINT
    return url if url.endswith("/") else url + "/"


class Metadata:
    """IMDSv2: a session token (PUT), then GETs carrying it; a new token when it expires or is refused."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""
        self.expires = 0.0

    def _token(self) -> str:
        if self.token and time.monotonic() < self.expires:
            return self.token
        request = urllib.request.Request(
            self.base + "latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL)},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            self.token = answer.read().decode("utf-8").strip()
        self.expires = time.monotonic() + TOKEN_TTL - 60
        return self.token

    def get(self, path: str) -> str | None:
        """The body at ``path``; None on 404 (no such notice)."""
        for _attempt in range(2):
            request = urllib.request.Request(self.base + path, headers={"X-aws-ec2-metadata-token": self._token()})
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                    return answer.read().decode("utf-8")
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    return None
                if error.code == 401:  # the token expired early, or the service restarted: a new one
                    self.token = ""
                    continue
                raise
        return None


def notices(metadata: Metadata) -> dict[str, Any]:
    """The notices the metadata service gives now: kind -> its document (parsed JSON, else the text)."""
    found: dict[str, Any] = {}
    for kind, path in NOTICES.items():
        body = metadata.get(path)
        if body is None:
            continue
        try:
            found[kind] = json.loads(body)
        except ValueError:
            found[kind] = body
    return found


def describe(kind: str, notice: Any) -> str:
    if kind == "interruption" and isinstance(notice, dict):
        return f"spot interruption notice: {notice.get('action', '?')} at {notice.get('time', '?')}"
    if kind == "rebalance" and isinstance(notice, dict):
        return f"rebalance recommendation since {notice.get('noticeTime', '?')}"
    return f"{kind}: {notice}"


def blacklist(config: dict[str, Any]) -> None:
    """Ask the master to give this node no new task (Disco's blacklist; the body is the node's name in JSON)."""
    request = urllib.request.Request(
        config["master_url"].rstrip("/") + "/disco/ctrl/blacklist",
        data=json.dumps(config["node_name"]).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def act(config: dict[str, Any], state: dict[str, Any], found: dict[str, Any]) -> bool:
    """Act once on each new notice; True when the state changed (to be saved)."""
    changed = False
    for kind, notice in found.items():
        if kind in state.get("seen", {}):
            continue
        text = describe(kind, notice)
        if config.get("role") == "master":
            log(
                2, f"disposable.disco: the master got a {text}; the cluster stops with it: run launch.yml to replace it"
            )
        else:
            try:
                blacklist(config)
            except (OSError, urllib.error.URLError) as error:
                log(4, f"disposable.disco: {text}; could not blacklist {config['node_name']} on the master: {error}")
                continue  # tried again on the next poll
            log(4, f"disposable.disco: {text}; {config['node_name']} blacklisted on the master: no new task lands here")
        state.setdefault("seen", {})[kind] = notice
        changed = True
    return changed


def run(config: dict[str, Any], once: bool = False) -> int:
    metadata = Metadata(endpoint(config))
    state_path = os.path.join(config.get("state_dir") or "/var/lib/disco-spot-watch", "state.json")
    state = load_json(state_path)
    silent = False
    while True:
        delay = float(config.get("interval") or 5)
        try:
            found = notices(metadata)
            if silent:
                log(6, f"the instance metadata service answers again at {metadata.base}")
            silent = False
        except (OSError, urllib.error.URLError, ValueError) as error:
            if not silent:
                log(6, f"no instance metadata service at {metadata.base} ({error}); polling every {QUIET_BACKOFF} s")
            silent, found, delay = True, {}, QUIET_BACKOFF
        if found and act(config, state, found):
            write_json(state_path, state, 0o600)
        if once:
            return 0
        time.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--once", action="store_true", help="one poll, then exit")
    args = parser.parse_args(argv)
    config = load_json(args.config)
    if config.get("role") not in ("master", "slave") or not config.get("master_url") or not config.get("node_name"):
        print(f"{args.config}: role (master or slave), master_url and node_name are required", file=sys.stderr)
        return 2
    return run(config, once=args.once)


if __name__ == "__main__":
    sys.exit(main())
