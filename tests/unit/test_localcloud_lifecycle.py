"""The local cloud's instance lifecycle (roles/disco_localcloud/files/lifecycle.py): a node container that stops
ends its instance in moto. Here against a stand-in of the docker engine's API on a unix socket (the engine's own
filters and event shape) and the real moto server; the end-to-end test runs it against the real engine."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from support import role_files

REPO = Path(__file__).resolve().parents[2]
lifecycle = role_files.load("lifecycle", "roles/disco_localcloud/files/lifecycle.py")

CLUSTER = "c1"


def labels(instance_id: str, cluster: str = CLUSTER, kind: str = "node") -> dict[str, str]:
    return {lifecycle.KIND_LABEL: kind, lifecycle.CLUSTER_LABEL: cluster, lifecycle.INSTANCE_LABEL: instance_id}


class Engine(http.server.BaseHTTPRequestHandler):
    """The two calls of the engine's API the watcher makes, filtering by labels and status as the engine does."""

    protocol_version = "HTTP/1.1"
    containers: ClassVar[list[dict]] = []
    events: ClassVar[list[dict]] = []
    asked: ClassVar[list[str]] = []

    def address_string(self) -> str:
        return "unix"

    def filters(self) -> dict[str, list[str]]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return json.loads(query["filters"][0])

    def matches(self, found: dict[str, str], wanted: dict[str, list[str]]) -> bool:
        return all(found.get(k) == v for k, v in (item.split("=", 1) for item in wanted.get("label", [])))

    def do_GET(self) -> None:
        self.asked.append(self.path)
        wanted = self.filters()
        if self.path.startswith("/containers/json"):
            body = json.dumps(
                [
                    c
                    for c in self.containers
                    if self.matches(c["Labels"], wanted) and c["State"] in wanted.get("status", [c["State"]])
                ]
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in self.events:
            attributes = event["Actor"]["Attributes"]
            if event["Action"] in wanted["event"] and self.matches(attributes, wanted):
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.write(b"0\r\n\r\n")  # the stream ends (the engine stopped): the watcher returns

    def log_message(self, *args: object) -> None:
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "docker.sock")
    server = UnixServer(path, Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path
    server.shutdown()


def die(instance_id: str, code: int, **label_overrides: str) -> dict:
    attributes = {**labels(instance_id, **label_overrides), "exitCode": str(code), "name": instance_id}
    return {"Type": "container", "Action": "die", "Actor": {"ID": "abc", "Attributes": attributes}}


def test_a_node_container_that_stops_ends_its_instance_in_moto(engine, moto, capsys):
    ec2 = moto.client("ec2")
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(ImageId="ami-12345678", MinCount=4, MaxCount=4, InstanceType="m5.large")["Instances"]
    ]
    stopped_before, powered_off, other_cluster, running = ids
    Engine.asked = []
    Engine.containers = [
        {"Labels": labels(stopped_before), "State": "exited"},
        {"Labels": labels(running), "State": "running"},
        {"Labels": labels(other_cluster, cluster="c2"), "State": "exited"},
    ]
    Engine.events = [die(powered_off, 0), die(other_cluster, 0, cluster="c2"), die("", 137, kind="imds")]
    lifecycle.watch(engine, CLUSTER, lifecycle.terminator(moto.url, moto.env["AWS_REGION"]))
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    assert states == {
        stopped_before: "terminated",
        powered_off: "terminated",
        other_cluster: "running",
        running: "running",
    }
    out = capsys.readouterr().out
    assert f"{stopped_before}: its container is not running; instance terminated (was running)" in out
    assert f"{powered_off}: its container stopped (exit code 0); instance terminated (was running)" in out
    # An instance that is gone already is said so, and moto's refusal is logged, not fatal.
    lifecycle.end(lifecycle.terminator(moto.url, moto.env["AWS_REGION"]), powered_off, "again")
    lifecycle.end(lifecycle.terminator(moto.url, moto.env["AWS_REGION"]), "i-0000000000000000f", "unknown")
    out = capsys.readouterr().out
    assert f"{powered_off}: again; the instance was terminated already" in out
    assert "i-0000000000000000f: unknown; TerminateInstances failed" in out
    assert all(f"{lifecycle.CLUSTER_LABEL}%3D{CLUSTER}" in path for path in Engine.asked), Engine.asked
