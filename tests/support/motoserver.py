"""A real moto server on 127.0.0.1 for the tests, with a record of the AWS calls made to it."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
# Fake credentials: moto accepts any; real ones must never be used by the tests.
FAKE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _action_of(entry: dict) -> str | None:
    """Return the API action of one recorded request (query-protocol services put it in the body or the URL)."""
    body = entry.get("body") or ""
    if body:
        with contextlib.suppress(ValueError):
            body = base64.b64decode(body).decode("utf-8", "replace")
    query = urllib.parse.urlsplit(entry.get("uri", "")).query
    for text in (body, query):
        action = urllib.parse.parse_qs(text).get("Action")
        if action:
            return action[0]
    target = (entry.get("headers") or {}).get("X-Amz-Target")
    return target.split(".")[-1] if target else None


@dataclass
class MotoServer:
    """moto's ThreadedMotoServer with its request recorder switched on."""

    server: ThreadedMotoServer
    url: str
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls) -> MotoServer:
        os.environ["MOTO_ENABLE_RECORDING"] = "True"
        # The recorder appends to this file (default: ./moto_recording); keep it out of the work tree.
        fd, path = tempfile.mkstemp(prefix="disco-moto-recording-")
        os.close(fd)
        os.environ["MOTO_RECORDER_FILEPATH"] = path
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        env = {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
        instance = cls(server=server, url=url, env=env)
        instance.start_recording()
        return instance

    def client(self, service: str) -> Any:
        """A boto3 client for this server, with the fake credentials."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.env["AWS_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def _post(self, path: str) -> bytes:
        request = urllib.request.Request(self.url + path, method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def start_recording(self) -> None:
        """Forget what was recorded so far and record from now on."""
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def reset(self) -> None:
        """Forget every AWS resource and every recorded call."""
        self._post("/moto-api/reset")
        self.start_recording()

    def calls(self) -> list[str]:
        """API actions received since the recording was last cleared, in order."""
        with urllib.request.urlopen(self.url + "/moto-api/recorder/download-recording", timeout=30) as response:
            lines = response.read().decode().splitlines()
        actions = (_action_of(json.loads(line)) for line in lines if line.strip())
        return [action for action in actions if action]

    def call_counts(self) -> Counter[str]:
        return Counter(self.calls())

    def stop(self) -> None:
        self.server.stop()
