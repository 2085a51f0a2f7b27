# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cloud's instance lifecycle: a node container that stops ends its instance, as EC2 ends an instance
launched with instance-initiated shutdown behaviour ``terminate`` when its operating system powers off.

It watches the docker engine's events (``GET /events``, over the engine's unix socket) for the ``die`` of the
cluster's node containers (labels ``disposable-disco-kind=node`` and ``disposable-disco-cluster=<cluster>``) and
terminates the instance named by the container's ``disposable-disco-instance`` label in moto
(``TerminateInstances``). At start it does the same for the node containers that stopped while it was not
watching. The stopped container stays (as EC2 shows a terminated instance for a while); the next launch.yml or
teardown.yml removes it. Every action is logged to standard output.

Containers cannot reboot: a node that reboots ends its instance too.

Standard library and boto3 only (the local cloud's moto container has both).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

KIND_LABEL = "disposable-disco-kind"
CLUSTER_LABEL = "disposable-disco-cluster"
INSTANCE_LABEL = "disposable-disco-instance"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the docker engine's unix socket."""

    def __init__(self, socket_path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def node_filters(cluster: str, **more: list[str]) -> str:
    """Docker's ``filters`` query parameter for the cluster's node containers."""
    filters = {"label": [f"{KIND_LABEL}=node", f"{CLUSTER_LABEL}={cluster}"], **more}
    return urllib.parse.quote(json.dumps(filters))


def stopped_nodes(socket_path: str, cluster: str) -> list[str]:
    """Instance ids of the cluster's node containers that are not running (exited or dead)."""
    connection = UnixHTTPConnection(socket_path, timeout=30)
    connection.request("GET", f"/containers/json?all=1&filters={node_filters(cluster, status=['exited', 'dead'])}")
    answer = connection.getresponse()
    containers = json.loads(answer.read().decode("utf-8"))
    connection.close()
    return sorted({c["Labels"][INSTANCE_LABEL] for c in containers if (c.get("Labels") or {}).get(INSTANCE_LABEL)})


def die_events(socket_path: str, cluster: str) -> Iterator[dict[str, Any]]:
    """The ``die`` events of the cluster's node containers, as the engine streams them (one JSON per line)."""
    connection = UnixHTTPConnection(socket_path, timeout=None)
    query = node_filters(cluster, type=["container"], event=["die"])
    connection.request("GET", f"/events?filters={query}")
    answer = connection.getresponse()
    if answer.status != 200:
        raise RuntimeError(f"docker events: HTTP {answer.status} {answer.read()[:200]!r}")
    while True:
        line = answer.readline()
        if not line:
            return
        if line.strip():
            yield json.loads(line.decode("utf-8"))


def instance_of(event: dict[str, Any]) -> tuple[str, str]:
    """(instance id, exit code) of a die event; an empty id when the container names none."""
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    return attributes.get(INSTANCE_LABEL, ""), str(attributes.get("exitCode", "?"))


def terminator(moto_url: str, region: str) -> Callable[[str], str]:
    """A function that terminates an instance in moto and returns its state before."""
    import boto3  # the container's mounted site-packages

    ec2 = boto3.client(
        "ec2", endpoint_url=moto_url, region_name=region, aws_access_key_id="local", aws_secret_access_key="cloud"
    )

    def terminate(instance_id: str) -> str:
        answer = ec2.terminate_instances(InstanceIds=[instance_id])
        changes = answer.get("TerminatingInstances") or [{}]
        return (changes[0].get("PreviousState") or {}).get("Name", "?")

    return terminate


def end(terminate: Callable[[str], str], instance_id: str, why: str) -> None:
    try:
        before = terminate(instance_id)
    except Exception as error:  # keep watching whatever moto answers
        print(f"{instance_id}: {why}; TerminateInstances failed: {error}", flush=True)
        return
    if before == "terminated":
        print(f"{instance_id}: {why}; the instance was terminated already", flush=True)
    else:
        print(f"{instance_id}: {why}; instance terminated (was {before})", flush=True)


def watch(socket_path: str, cluster: str, terminate: Callable[[str], str]) -> None:
    """Terminate the instances of stopped containers, then of each container that stops, for ever."""
    for instance_id in stopped_nodes(socket_path, cluster):
        end(terminate, instance_id, "its container is not running")
    print(f"watching the node containers of cluster {cluster}", flush=True)
    for event in die_events(socket_path, cluster):
        instance_id, code = instance_of(event)
        if instance_id:
            end(terminate, instance_id, f"its container stopped (exit code {code})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--moto-url", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--docker-socket", default="/var/run/docker.sock")
    args = parser.parse_args(argv)
    terminate = terminator(args.moto_url, args.region)
    while True:
        try:
            watch(args.docker_socket, args.cluster, terminate)
        except (OSError, http.client.HTTPException, RuntimeError, ValueError) as error:
            print(f"lost the docker engine's events ({error}); again in 5 s", flush=True)
        time.sleep(5)


if __name__ == "__main__":
    sys.exit(main())
