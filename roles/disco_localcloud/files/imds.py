# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cloud's instance metadata service: EC2's IMDSv2 (tokens required) for the node containers.

Nodes reach it in place of 169.254.169.254 through boto3's ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` (or
``ec2_metadata_service_endpoint`` in the AWS config file). It answers as EC2 does with ``HttpTokens=required``:

- ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1 to 21600) returns a session token;
  a PUT without that header is refused (400), and so is one carrying ``X-Forwarded-For`` (403), as EC2 refuses
  tokens to requests that went through a proxy;
- every ``GET`` needs a valid token in ``X-aws-ec2-metadata-token``, else 401 (no IMDSv1);
- ``/latest/meta-data/instance-id``, ``placement/region``, ``placement/availability-zone``;
- ``/latest/meta-data/spot/instance-action`` and ``events/recommendations/rebalance``: 404, as on EC2, until the
  instances file gives the instance a ``spot_action`` (``{"action": "terminate", "time": ...}``) or a
  ``rebalance`` (``{"noticeTime": ...}``): a test announces a spot interruption to one node that way;
- ``/latest/meta-data/iam/security-credentials/`` lists the role of the instance's profile, and
  ``.../security-credentials/<role>`` gives temporary credentials of that role, made by moto's STS
  (AssumeRole): the credentials come from this endpoint, never from a file on the node.

Which instance asks is told by the client's address: the instances file (JSON, re-read when it changes) maps
addresses to ``{"instance_id", "instance_profile", "zone", "spot_action", "rebalance"}``; the profile's role is
looked up in moto's IAM.
Every request is logged (method, path, status) to standard output and kept in memory for the tests.

Standard library and boto3 only (the local cloud's moto container has both).
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL = 21600
CREDENTIALS_SECONDS = 3600
PREFIX = "/latest/meta-data/"


@dataclass
class Instance:
    """What the metadata service knows of one instance."""

    instance_id: str
    instance_profile: str = ""
    zone: str = ""
    # Announced by the instances file, as EC2 announces them: {"action": "terminate", "time": "...Z"} about two
    # minutes before a spot interruption, {"noticeTime": "...Z"} for a rebalance recommendation.
    spot_action: dict[str, str] | None = None
    rebalance: dict[str, str] | None = None


@dataclass
class Metadata:
    """The service's state: instances by client address, tokens, the moto endpoint, a request log."""

    moto_url: str
    region: str
    instances_file: Path | None = None
    instances: dict[str, Instance] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _mtime: float = -1.0
    _clients: dict[str, Any] = field(default_factory=dict)
    _issued: dict[tuple[str, str], tuple[float, dict[str, str]]] = field(default_factory=dict)

    def instance_at(self, address: str) -> Instance | None:
        self._reload()
        with self.lock:
            return self.instances.get(address)

    def _reload(self) -> None:
        if self.instances_file is None or not self.instances_file.exists():
            return
        mtime = self.instances_file.stat().st_mtime
        if mtime == self._mtime:
            return
        found = json.loads(self.instances_file.read_text() or "{}")
        with self.lock:
            self.instances = {address: Instance(**entry) for address, entry in found.items()}
            self._mtime = mtime

    def new_token(self, address: str, ttl: int) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = (address, time.monotonic() + ttl)
        return token

    def token_valid(self, token: str | None, address: str) -> bool:
        with self.lock:
            entry = self.tokens.get(token or "")
        return entry is not None and entry[0] == address and entry[1] > time.monotonic()

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.log.append((method, path, status))
        print(f"{method} {path} {status}", flush=True)

    def _client(self, service: str) -> Any:
        with self.lock:
            client = self._clients.get(service)
        if client is None:
            client = self._new_client(service)
            with self.lock:
                self._clients[service] = client
        return client

    def _new_client(self, service: str) -> Any:
        import boto3  # only the credential paths need it

        # moto takes any key; these identify the metadata service itself, never a node.
        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            region_name=self.region,
            aws_access_key_id="AKIAIMDSLOCALCLOUD00",
            aws_secret_access_key="local-cloud-metadata-service",
        )

    def role_of(self, instance: Instance) -> str | None:
        """The role of the instance's profile, from moto's IAM; None without a profile or role."""
        if not instance.instance_profile:
            return None
        name = instance.instance_profile.rsplit("/", 1)[-1]
        profile = self._client("iam").get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        roles = profile.get("Roles") or []
        return roles[0]["RoleName"] if roles else None

    def credentials(self, instance: Instance, role: str) -> dict[str, str]:
        """Temporary credentials of ``role`` for the instance, made once and kept until 10 minutes before they
        expire (as EC2 rotates them), so that an answer is quick: boto3 waits 1 s by default."""
        key = (instance.instance_id, role)
        with self.lock:
            issued = self._issued.get(key)
        if issued is not None and issued[0] > time.monotonic():
            return issued[1]
        answer = self._assume(instance, role)
        with self.lock:
            self._issued[key] = (time.monotonic() + CREDENTIALS_SECONDS - 600, answer)
        return answer

    def _assume(self, instance: Instance, role: str) -> dict[str, str]:
        arn = self._client("iam").get_role(RoleName=role)["Role"]["Arn"]
        answer = self._client("sts").assume_role(
            RoleArn=arn, RoleSessionName=instance.instance_id, DurationSeconds=CREDENTIALS_SECONDS
        )["Credentials"]
        expiration = answer.get("Expiration") or datetime.now(UTC) + timedelta(seconds=CREDENTIALS_SECONDS)
        return {
            "Code": "Success",
            "LastUpdated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Type": "AWS-HMAC",
            "AccessKeyId": answer["AccessKeyId"],
            "SecretAccessKey": answer["SecretAccessKey"],
            "Token": answer["SessionToken"],
            "Expiration": expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


class Handler(BaseHTTPRequestHandler):
    """One request to the metadata service."""

    server: MetadataServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # Metadata.record logs every request

    def _answer(self, status: int, body: str = "", content_type: str = "text/plain") -> None:
        data = body.encode()
        self.server.metadata.record(self.command, self.path, status)  # before the answer: a caller sees it logged
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path != "/latest/api/token":
            self._answer(404)
            return
        if self.headers.get("X-Forwarded-For"):
            self._answer(403)
            return
        ttl = self.headers.get(TOKEN_TTL_HEADER, "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
            self._answer(400)
            return
        token = self.server.metadata.new_token(self.client_address[0], int(ttl))
        self.server.metadata.record("PUT", self.path, 200)
        self.send_response(200)
        self.send_header(TOKEN_TTL_HEADER, ttl)
        data = token.encode()
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        metadata = self.server.metadata
        address = self.client_address[0]
        if not metadata.token_valid(self.headers.get(TOKEN_HEADER), address):
            self._answer(401)  # IMDSv2 required: no token, no answer
            return
        instance = metadata.instance_at(address)
        if instance is None or not self.path.startswith(PREFIX):
            self._answer(404)
            return
        self._meta_data(instance, self.path[len(PREFIX) :])

    def _meta_data(self, instance: Instance, path: str) -> None:
        metadata = self.server.metadata
        simple = {
            "instance-id": instance.instance_id,
            "placement/region": metadata.region,
            "placement/availability-zone": instance.zone or f"{metadata.region}a",
        }
        if path in simple:
            self._answer(200, simple[path])
            return
        notices = {"spot/instance-action": instance.spot_action, "events/recommendations/rebalance": instance.rebalance}
        if path in notices:  # 404 until announced, as on EC2
            notice = notices[path]
            self._answer(200, json.dumps(notice), "application/json") if notice else self._answer(404)
            return
        if not path.startswith("iam/security-credentials"):
            self._answer(404)
            return
        role = metadata.role_of(instance)
        asked = path[len("iam/security-credentials") :].strip("/")
        if role is None or asked not in ("", role):
            self._answer(404)
        elif not asked:
            self._answer(200, role)
        else:
            self._answer(200, json.dumps(metadata.credentials(instance, role)), "application/json")


class MetadataServer(ThreadingHTTPServer):
    """The HTTP server, holding the service's :class:`Metadata`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], metadata: Metadata) -> None:
        super().__init__(address, Handler)
        self.metadata = metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8111)
    parser.add_argument("--moto-url", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--instances", type=Path, required=True, help="JSON: client address -> instance")
    args = parser.parse_args()
    metadata = Metadata(moto_url=args.moto_url, region=args.region, instances_file=args.instances)
    MetadataServer((args.host, args.port), metadata).serve_forever()


if __name__ == "__main__":
    main()
