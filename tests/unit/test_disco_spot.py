"""Spot interruptions heard (issue 14): the nodes' agent (roles/disco_spot/files/disco_spot_watch.py) against the
local cloud's metadata service (roles/disco_localcloud/files/imds.py, IMDSv2 as EC2 requires it), which says 404
until its instances file announces a notice, and a stand-in of Disco's master recording blacklist requests."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from support import role_files

REPO = Path(__file__).resolve().parents[2]


watch = role_files.load("disco_spot_watch", "roles/disco_spot/files/disco_spot_watch.py")
imds = role_files.load("imds_for_spot", "roles/disco_localcloud/files/imds.py")

NOTICE = {"action": "terminate", "time": "2026-12-02T07:02:00Z"}


class Master(http.server.BaseHTTPRequestHandler):
    blacklisted: ClassVar[list[object]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/disco/ctrl/blacklist":
            self.blacklisted.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def serve(server: http.server.HTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture()
def cloud(tmp_path: Path) -> Iterator[dict]:
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps({"127.0.0.1": {"instance_id": "i-0123456789abcdef0"}}))
    metadata = imds.Metadata(moto_url="http://127.0.0.1:9", region="us-east-1", instances_file=instances)
    metadata_server = imds.MetadataServer(("127.0.0.1", 0), metadata)
    master = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Master)
    serve(metadata_server), serve(master)
    Master.blacklisted = []
    yield {
        "instances": instances,
        "metadata": metadata,
        "config": {
            "role": "slave",
            "master_url": f"http://127.0.0.1:{master.server_address[1]}",
            "node_name": "ip-10-0-0-7",
            "interval": 5,
            "imds_url": f"http://127.0.0.1:{metadata_server.server_address[1]}",
            "state_dir": str(tmp_path / "state"),
        },
    }
    metadata_server.shutdown()
    master.shutdown()


def announce(cloud: dict, **notices: dict) -> None:
    entry = {"instance_id": "i-0123456789abcdef0", **notices}
    cloud["instances"].write_text(json.dumps({"127.0.0.1": entry}))
    cloud["metadata"]._mtime = -1.0  # the file's mtime may not move within the same second


def test_no_notice_no_action_and_imdsv2_tokens_are_used(cloud, capsys):
    assert watch.run(cloud["config"], once=True) == 0
    assert Master.blacklisted == []
    log = cloud["metadata"].log
    assert ("PUT", "/latest/api/token", 200) in log
    assert ("GET", "/latest/meta-data/spot/instance-action", 404) in log
    assert ("GET", "/latest/meta-data/events/recommendations/rebalance", 404) in log
    assert all(status != 401 for _method, _path, status in log), log
    assert "disposable.disco" not in capsys.readouterr().out


def test_an_interruption_notice_blacklists_the_slave_once(cloud, capsys):
    announce(cloud, spot_action=NOTICE)
    watch.run(cloud["config"], once=True)
    assert Master.blacklisted == ["ip-10-0-0-7"]
    out = capsys.readouterr().out
    assert "<4>disposable.disco: spot interruption notice: terminate at 2026-12-02T07:02:00Z;" in out
    assert "ip-10-0-0-7 blacklisted on the master: no new task lands here" in out
    watch.run(cloud["config"], once=True)  # the same notice again, after a restart too: acted on once
    assert Master.blacklisted == ["ip-10-0-0-7"]
    state = json.loads((Path(cloud["config"]["state_dir"]) / "state.json").read_text())
    assert state == {"seen": {"interruption": NOTICE}}


def test_a_rebalance_recommendation_blacklists_too(cloud, capsys):
    announce(cloud, rebalance={"noticeTime": "2026-12-02T06:50:00Z"})
    watch.run(cloud["config"], once=True)
    assert Master.blacklisted == ["ip-10-0-0-7"]
    assert "rebalance recommendation since 2026-12-02T06:50:00Z" in capsys.readouterr().out


def test_the_master_warns_and_blacklists_nothing(cloud, capsys):
    announce(cloud, spot_action=NOTICE)
    watch.run({**cloud["config"], "role": "master"}, once=True)
    assert Master.blacklisted == []
    assert "<2>disposable.disco: the master got a spot interruption notice" in capsys.readouterr().out


def test_a_master_that_does_not_answer_is_asked_again_on_the_next_poll(cloud, capsys):
    announce(cloud, spot_action=NOTICE)
    silent = {**cloud["config"], "master_url": "http://127.0.0.1:9"}
    watch.run(silent, once=True)
    assert "could not blacklist ip-10-0-0-7 on the master" in capsys.readouterr().out
    assert not (Path(silent["state_dir"]) / "state.json").exists(), "not marked as done"
    watch.run(cloud["config"], once=True)
    assert Master.blacklisted == ["ip-10-0-0-7"]


def test_without_a_metadata_service_it_says_so_once_and_backs_off(tmp_path, capsys):
    config = {"role": "slave", "master_url": "http://127.0.0.1:9", "node_name": "n", "imds_url": "http://127.0.0.1:9"}
    assert watch.run({**config, "state_dir": str(tmp_path)}, once=True) == 0
    assert "no instance metadata service at http://127.0.0.1:9/" in capsys.readouterr().out


def test_the_endpoint_follows_boto3s_variable_when_none_is_configured(monkeypatch):
    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", raising=False)
    assert watch.endpoint({}) == "http://169.254.169.254/"
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://disco-imds-c1")
    assert watch.endpoint({}) == "http://disco-imds-c1/"
    assert watch.endpoint({"imds_url": "http://x/"}) == "http://x/"


def test_settings_without_a_role_or_node_are_refused(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"role": "slave"}))
    assert watch.main(["--config", str(tmp_path / "c.json"), "--once"]) == 2
