"""The cluster ends itself: the nodes' agent (roles/disco_lifetime/files/disco_lifetime.py) and the controller's
side of it (plugins/module_utils/disco_lifetime.py: the first launch kept in the disco-started tag, the deadline,
the lines of the plan and the status)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from ansible_collections.disposable.disco.plugins.module_utils import disco_lifetime as lifetime
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2_plan import make_plan
from ansible_collections.disposable.disco.plugins.modules.disco_ec2_fleet import instance_tags
from support import role_files

REPO = Path(__file__).resolve().parents[2]
agent = role_files.load("disco_lifetime_agent", "roles/disco_lifetime/files/disco_lifetime.py")

T0 = dt.datetime(2026, 12, 2, 6, 0, 0, tzinfo=dt.UTC)
MASTER = {"role": "master", "idle_timeout": 600, "max_lifetime": 0, "started": "", "warning": 300, "grace": 60}
SLAVE = {**MASTER, "role": "slave"}


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def job(start: dt.datetime, status: str, name: str = "Job@1") -> tuple[float, str, str]:
    return (start.timestamp(), status, name)


# ------------------------------------------------------------------------------------------- the master


def test_an_idle_master_ends_the_cluster_after_the_idle_timeout_counted_from_its_first_look():
    state, decision = agent.master_look(MASTER, {}, [], T0)
    assert state == {"first_seen": "2026-12-02T06:00:00Z", "last_busy": "2026-12-02T06:00:00Z"}
    assert decision["end"] == "" and decision["ends_at"] == "2026-12-02T06:10:00Z" and decision["why"] == "idle"
    state, decision = agent.master_look(MASTER, state, [], at(9.9))
    assert decision["end"] == "" and decision["seconds_left"] == 6
    state, decision = agent.master_look(MASTER, state, [], at(10))
    assert decision["end"] == "no Disco job for 10 min (disco_idle_timeout 10 min)"


def test_an_active_job_keeps_the_cluster_and_the_idle_time_counts_from_then():
    state, _decision = agent.master_look(MASTER, {}, [], T0)
    state, decision = agent.master_look(MASTER, state, [job(at(1), "active")], at(30))
    assert decision["end"] == "" and decision["ends_at"] == "" and decision["active_jobs"] == ["Job@1"]
    assert state["last_busy"] == "2026-12-02T06:30:00Z"
    state, decision = agent.master_look(MASTER, state, [job(at(1), "ready")], at(35))
    assert decision["end"] == "" and decision["ends_at"] == "2026-12-02T06:40:00Z"
    _state, decision = agent.master_look(MASTER, state, [job(at(1), "ready")], at(40))
    assert decision["end"].startswith("no Disco job for 10 min")


def test_a_job_that_ran_between_two_looks_counts_from_its_start():
    state, _decision = agent.master_look(MASTER, {}, [], T0)
    state, decision = agent.master_look(MASTER, state, [job(at(8), "ready"), job(at(2), "dead", "Old@1")], at(9))
    assert state["last_busy"] == "2026-12-02T06:08:00Z" and decision["ends_at"] == "2026-12-02T06:18:00Z"


def test_new_settings_restart_the_idle_clock():
    state, _decision = agent.master_look(MASTER, {}, [], T0)
    state, decision = agent.master_look(MASTER, state, [], at(30), settings_changed=at(29))
    assert decision["end"] == "" and decision["ends_at"] == "2026-12-02T06:39:00Z"
    _state, decision = agent.master_look(MASTER, state, [], at(39))
    assert decision["end"].startswith("no Disco job for 10 min")


def test_a_disco_that_does_not_answer_counts_as_idle():
    state, _decision = agent.master_look(MASTER, {}, [job(at(0), "active")], T0)
    _state, decision = agent.master_look(MASTER, state, None, at(10))
    assert decision["end"].startswith("no Disco job") and decision["disco_answered"] is False


def test_the_lifetime_ends_the_cluster_jobs_or_not_counted_from_the_first_launch():
    config = {**MASTER, "idle_timeout": 0, "max_lifetime": 1.5, "started": "2026-12-02T05:00:00Z"}
    _state, decision = agent.master_look(config, {}, [job(at(0), "active")], at(29))
    assert decision["end"] == "" and decision["why"] == "lifetime" and decision["seconds_left"] == 60
    assert decision["deadline"] == "2026-12-02T06:30:00Z"
    _state, decision = agent.master_look(config, {}, [job(at(0), "active")], at(30))
    assert decision["end"] == "its lifetime ended at 2026-12-02T06:30:00Z (disco_max_lifetime 1.5 h)"


def test_without_a_first_launch_the_lifetime_counts_from_the_first_look():
    config = {**MASTER, "idle_timeout": 0, "max_lifetime": 2}
    state, decision = agent.master_look(config, {}, [], T0)
    assert decision["deadline"] == "2026-12-02T08:00:00Z"
    _state, decision = agent.master_look(config, state, [], at(120))
    assert decision["end"].startswith("its lifetime ended")


def test_the_earlier_limit_is_the_one_announced():
    config = {**MASTER, "max_lifetime": 0.1, "started": T0.isoformat()}
    _state, decision = agent.master_look(config, {}, [], T0)
    assert decision["why"] == "lifetime" and decision["ends_at"] == "2026-12-02T06:06:00Z"
    assert "disco_max_lifetime" in agent.warning_text(decision)


# -------------------------------------------------------------------------------------------- the slaves


def test_a_slave_follows_the_master_that_ends_the_cluster():
    state, end = agent.slave_look(SLAVE, {}, {"ending": False}, T0)
    assert end == "" and state["master_seen"] == "2026-12-02T06:00:00Z"
    _state, end = agent.slave_look(SLAVE, state, {"ending": True, "reason": "no Disco job for 10 min"}, at(11))
    assert end == "the master ends the cluster: no Disco job for 10 min"


def test_a_master_without_its_status_file_yet_is_a_master_that_answers():
    state, end = agent.slave_look(SLAVE, {}, {}, T0)
    state, end = agent.slave_look(SLAVE, state, {}, at(60))
    assert end == "" and state["master_seen"] == "2026-12-02T07:00:00Z"


def test_a_slave_whose_master_is_gone_ends_after_the_idle_timeout_and_the_grace():
    state, _decision = agent.slave_look(SLAVE, {}, {"ending": False}, T0)
    state, end = agent.slave_look(SLAVE, state, None, at(10.9))
    assert end == ""
    _state, end = agent.slave_look(SLAVE, state, None, at(11))
    assert end == "the master has not answered for 11 min (disco_idle_timeout 10 min)"


def test_a_slave_ends_past_the_deadline_it_learnt_from_the_master():
    config = {**SLAVE, "idle_timeout": 0}
    state, _decision = agent.slave_look(config, {}, {"ending": False, "deadline": "2026-12-02T06:05:00Z"}, T0)
    _state, end = agent.slave_look(config, state, None, at(6))
    assert end == ""
    _state, end = agent.slave_look(config, state, None, at(7))
    assert end == "its lifetime ended at 2026-12-02T06:05:00Z and the master did not end it"


# ----------------------------------------------------------------------- the agent as systemd runs it


class Master(http.server.BaseHTTPRequestHandler):
    jobs: ClassVar[list] = []
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        if self.path == "/disco/ctrl/joblist":
            body = json.dumps(self.jobs).encode()
        elif self.path.lstrip("/") in self.files:
            body = self.files[self.path.lstrip("/")]
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def master_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Master)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def write_config(tmp_path: Path, **settings: object) -> Path:
    path = tmp_path / f"{settings['role']}.json"
    path.write_text(json.dumps(settings))
    return path


def agent_config(tmp_path: Path, master_url: str, role: str, **settings: object) -> tuple[Path, Path]:
    """The settings of an agent run in tmp_path (a 2-minute idle timeout, no lifetime, its state there, a power-off
    that touches a marker file): the settings file, and the marker."""
    marker = tmp_path / "powered-off"
    config = write_config(
        tmp_path,
        role=role,
        master_url=master_url,
        idle_timeout=120,
        max_lifetime=0,
        state_dir=str(tmp_path / "state"),
        poweroff_command=["touch", str(marker)],
        **settings,
    )
    return config, marker


def test_the_master_publishes_its_state_warns_and_powers_off_as_configured(tmp_path, master_url, capsys):
    config, marker = agent_config(
        tmp_path,
        master_url,
        "master",
        warning=600,
        grace=0,
        status_file=str(tmp_path / "www" / "disco-lifetime.json"),
        motd=str(tmp_path / "motd.d" / "disco-lifetime"),
    )
    Master.jobs = [[(agent.now_utc() - dt.timedelta(days=1)).timestamp(), "ready", "Old@1"]]
    assert agent.main(["--config", str(config)]) == 0
    status = json.loads((tmp_path / "www" / "disco-lifetime.json").read_text())
    assert status["ending"] is False and status["active_jobs"] == 0 and status["ends_at"]
    assert "ends itself in 2 min" in (tmp_path / "motd.d" / "disco-lifetime").read_text()
    assert "<4>disposable.disco: this cluster ends itself in 2 min" in capsys.readouterr().out
    assert not marker.exists()
    # Two minutes later by its own state: the master publishes the end, then powers off.
    state_file = tmp_path / "state" / "state.json"
    state = json.loads(state_file.read_text())
    state["last_busy"] = agent.iso(agent.now_utc() - dt.timedelta(minutes=3))
    state_file.write_text(json.dumps(state))
    three_minutes_ago = (agent.now_utc() - dt.timedelta(minutes=3)).timestamp()
    os.utime(config, (three_minutes_ago, three_minutes_ago))  # its settings are older than that too
    assert agent.main(["--config", str(config)]) == 0
    status = json.loads((tmp_path / "www" / "disco-lifetime.json").read_text())
    assert status["ending"] is True and status["reason"].startswith("no Disco job for 3 min")
    assert "<2>disposable.disco: the cluster ends now" in capsys.readouterr().out
    assert marker.exists()
    # A look while the power-off is on its way powers off again at once, without a second announcement.
    marker.unlink()
    assert agent.main(["--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "the cluster is ending since" in out and "ends now" not in out and marker.exists()
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"


def test_a_slave_powers_off_when_the_master_says_so_and_dry_run_only_says_it(tmp_path, master_url, capsys):
    config, marker = agent_config(tmp_path, master_url, "slave", grace=60)
    Master.files = {}
    assert agent.main(["--config", str(config)]) == 0 and not marker.exists()  # no status file yet: stays
    Master.files = {"disco-lifetime.json": json.dumps({"ending": True, "reason": "test"}).encode()}
    assert agent.main(["--config", str(config), "--dry-run"]) == 0 and not marker.exists()
    assert "dry run: would wait 0 s, then run touch" in capsys.readouterr().out
    assert agent.main(["--config", str(config)]) == 0 and marker.exists()
    assert "<2>disposable.disco: this node powers off: the master ends the cluster: test" in capsys.readouterr().out


def test_with_both_limits_zero_the_agent_does_nothing(tmp_path, master_url):
    config = write_config(
        tmp_path, role="master", master_url=master_url, idle_timeout=0, max_lifetime=0, state_dir=str(tmp_path / "s")
    )
    assert agent.main(["--config", str(config)]) == 0
    assert not (tmp_path / "s").exists()


def test_a_settings_file_without_a_role_is_refused(tmp_path):
    (tmp_path / "c.json").write_text("{}")
    assert agent.main(["--config", str(tmp_path / "c.json")]) == 2


# ----------------------------------------------------------------------------- the controller's side


def node(instance_id: str, launch_time: str, started: str = "", role: str = "slave") -> dict:
    tags = {"disco": "c", "disco-role": role, "disco-group": "master" if role == "master" else "default"}
    if started:
        tags[lifetime.TAG_STARTED] = started
    return {
        "instance_id": instance_id,
        "role": role,
        "group": tags["disco-group"],
        "state": "running",
        "launch_time": launch_time,
        "tags": tags,
        "request_id": "",
    }


def test_the_first_launch_is_the_earliest_tag_else_launch_time_else_now():
    assert lifetime.started_at([], T0) == "2026-12-02T06:00:00Z"
    nodes = [node("i-1", "2026-12-02T05:00:00+00:00"), node("i-2", "2026-12-02T07:00:00+00:00", "2026-12-01T22:00:00Z")]
    assert lifetime.started_at(nodes, T0) == "2026-12-01T22:00:00Z"
    assert lifetime.started_at(nodes[:1], T0) == "2026-12-02T05:00:00Z"


def test_new_nodes_are_tagged_with_the_first_launch_and_templates_are_not():
    groups = [
        {"role": "master", "group": "master", "count": 1, "market": "spot", "instance_types": ["m5.large"]},
        {"role": "slave", "group": "default", "count": 2, "market": "spot", "instance_types": ["m5.large"]},
    ]
    observed = {"instances": {"i-1": node("i-1", "2026-12-02T05:00:00+00:00", "2026-12-02T04:00:00Z")}, "requests": {}}
    plan = make_plan("disco", "c", observed, groups, started="2026-12-02T04:00:00Z")
    assert [(entry["role"], entry["count"], entry["started"]) for entry in plan["launch"]] == [
        ("master", 1, "2026-12-02T04:00:00Z"),
        ("slave", 1, "2026-12-02T04:00:00Z"),
    ]
    launch = plan["launch"][0]
    assert lifetime.TAG_STARTED not in launch["tags"]
    assert instance_tags(launch)[lifetime.TAG_STARTED] == "2026-12-02T04:00:00Z"
    assert instance_tags({**launch, "started": ""}) == launch["tags"]


def test_the_status_says_when_the_cluster_ends_itself():
    facts = lifetime.lifetime("2026-12-02T04:00:00Z", 60, 8, T0)
    assert facts["deadline"] == "2026-12-02T12:00:00Z" and facts["seconds_left"] == 6 * 3600
    assert lifetime.lifetime_lines(facts, running=True) == [
        "Ends itself: after 60 min without a Disco job (disco_idle_timeout)",
        "  and at 2026-12-02T12:00:00Z (in 6 h 0 min), 8 h launched at 2026-12-02T04:00:00Z (disco_max_lifetime)",
    ]
    never = lifetime.lifetime_lines(lifetime.lifetime("", 0, 0, T0), running=False)
    assert never[0] == "Ends itself: never for want of jobs (disco_idle_timeout: 0)"
    assert "no lifetime limit" in never[1]
    past = lifetime.lifetime("2026-11-01T00:00:00Z", 0, 1, T0)
    assert "now: past its lifetime" in lifetime.lifetime_lines(past, running=True)[1]
