"""disco_nodes (module) and disco_nodetable (role).

Always: the table logic, the HTTP retries against local stand-ins on 127.0.0.1, and the role's table computation
(its Jinja, evaluated by Ansible's Templar).

With DISCO_SOURCES (docs/disco-on-debian.md): a real Disco master in one container test-disco-nodes-*, built by the
roles disco_install + disco_service (an ansible-playbook run over the community.docker.docker connection), its port
8989 published on 127.0.0.1 only; the module runs as a process, as Ansible runs it, and the role through
ansible-playbook. The built container is committed as disposable-disco/test-master:<key> (key: the two roles'
files and the node image), so re-runs skip the build; `docker rmi` it to force one.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.disposable.disco.plugins.module_utils import disco_nodes
from ansible_collections.disposable.disco.plugins.module_utils.disco_nodes import (
    DiscoMasterError,
    DiscoTableError,
    check_nodes,
    compare,
    parse_rows,
    render,
    to_rows,
)
from ansible_collections.disposable.disco.plugins.modules import disco_nodes as disco_nodes_module

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles/disco_nodetable"
NODE_IMAGE = "disposable-disco/node:bookworm"
MASTER_HOSTNAME = "disco-test-master"
SKIP_REASON = (
    "DISCO_SOURCES is not set: the tests against a real Disco master are SKIPPED. Set DISCO_SOURCES to a directory "
    "of Disco checkouts (docs/disco-on-debian.md, 'DISCO_SOURCES') to run them."
)


# --- the table logic --------------------------------------------------------------------------------------------


def test_rows_are_strings_in_the_given_order():
    nodes = [{"host": "b", "workers": 3}, {"host": "a", "workers": 0}]
    assert to_rows(nodes) == [["b", "3"], ["a", "0"]]


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([{"host": "", "workers": 1}], "nodes[1]: host must not be empty"),
        ([{"host": "a b", "workers": 1}], "nodes[1]: host 'a b' must not contain white space"),
        ([{"host": " a", "workers": 1}], "nodes[1]: host ' a' must not contain white space"),
        ([{"host": "a01:a03", "workers": 1}], "nodes[1]: host 'a01:a03' must be one host name"),
        ([{"host": "a", "workers": 1}, {"host": "a", "workers": 2}], "nodes[2]: host 'a' is listed twice"),
        ([{"host": "a", "workers": -1}], "nodes[1]: workers must be a whole number, 0 or more, got -1"),
        ([{"host": "a", "workers": True}], "nodes[1]: workers must be a whole number"),
    ],
)
def test_nodes_disco_would_refuse_are_refused(nodes, message):
    errors = check_nodes(nodes)
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_valid_nodes_have_no_errors():
    assert check_nodes([{"host": "ip-10-0-0-5", "workers": 4}, {"host": "master", "workers": 0}]) == []
    assert check_nodes([]) == []


def test_disco_rows_parse_like_disco_does():
    assert parse_rows([["localhost", "2"]]) == {"localhost": 2}
    assert parse_rows([[" a ", " 3 "], ["node08:10", "1"]]) == {"a": 3, "node08": 1, "node09": 1, "node10": 1}
    assert parse_rows([["n098:100", "2"]]) == {"n098": 2, "n099": 2, "n100": 2}
    assert parse_rows([]) == {}


@pytest.mark.parametrize(
    "rows",
    [
        {"hosts": []},
        [["a"]],
        [["a", 2]],
        [["a", "x"]],
        [["a:b:c", "1"]],
        [["a", "1"], ["a", "2"]],
        [["ab:cde", "1"]],
        [["n8:10", "1"]],
    ],
)
def test_rows_disco_cannot_parse_are_errors(rows):
    with pytest.raises(ValueError):
        parse_rows(rows)


def test_comparison_ignores_order_and_names_every_change():
    assert compare({"a": 1, "b": 2}, {"b": 2, "a": 1}) == {"added": [], "removed": [], "updated": []}
    assert compare({"a": 1, "b": 2, "localhost": 2}, {"c": 4, "b": 3, "a": 1}) == {
        "added": ["c"],
        "removed": ["localhost"],
        "updated": ["b"],
    }
    assert render({"b": 2, "a": 10}) == "a 10\nb 2\n"


# --- the HTTP client, against local stand-ins -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandIn(http.server.BaseHTTPRequestHandler):
    """Answers from a script: a list of (status, body); the last entry repeats. Records the requests."""

    script: ClassVar[list[tuple[int, Any]]] = []
    seen: ClassVar[list[tuple[str, str, bytes]]] = []

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append((self.command, self.path, self.rfile.read(length)))
        status, body = self.script[0] if len(self.script) == 1 else self.script.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = answer  # http.server's names
    do_POST = answer

    def log_message(self, *args: Any) -> None:  # quiet
        return


@pytest.fixture()
def stand_in() -> Iterator[tuple[str, type[StandIn]]]:
    handler = type("Handler", (StandIn,), {"script": [], "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_a_master_that_is_not_there_fails_naming_the_url_within_the_timeout():
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(DiscoMasterError) as error:
        disco_nodes.load_table(url, timeout=2.5)
    elapsed = time.monotonic() - started
    assert f"the Disco master at {url}/disco/ctrl/load_config_table is not answering" in str(error.value)
    assert "gave up after 2.5 s" in str(error.value)
    assert 1.5 <= elapsed <= 4.0, elapsed


def test_server_errors_are_retried_then_the_answer_is_used(stand_in, monkeypatch):
    monkeypatch.setattr(disco_nodes, "RETRY_PAUSE", 0.1)
    url, handler = stand_in
    handler.script = [(503, "starting"), (500, "oops"), (200, [["a", "2"]])]
    assert disco_nodes.load_table(url, timeout=10) == [["a", "2"]]
    assert [path for _method, path, _body in handler.seen] == ["/disco/ctrl/load_config_table"] * 3


def test_a_refused_table_fails_at_once_with_discos_message(stand_in):
    url, handler = stand_in
    handler.script = [(400, "duplicate nodes")]
    with pytest.raises(DiscoTableError, match="refused the table: duplicate nodes"):
        disco_nodes.save_table(url, [["a", "1"], ["a", "1"]], timeout=10)
    assert handler.seen == [("POST", "/disco/ctrl/save_config_table", b'[["a", "1"], ["a", "1"]]')]


def test_something_else_than_a_disco_master_fails_at_once(stand_in):
    url, handler = stand_in
    handler.script = [(404, "no such page")]
    with pytest.raises(DiscoMasterError, match=r"answered HTTP 404 .* is it a Disco master"):
        disco_nodes.load_table(url, timeout=10)
    assert len(handler.seen) == 1


def test_a_save_disco_does_not_confirm_is_an_error(stand_in):
    url, handler = stand_in
    handler.script = [(200, "")]
    with pytest.raises(DiscoTableError, match="did not save the table"):
        disco_nodes.save_table(url, [], timeout=10)


# --- the module, run as Ansible runs it -------------------------------------------------------------------------


def run_module(args: dict[str, Any], check: bool = False, diff: bool = False) -> tuple[int, dict[str, Any]]:
    """Run the module in a process, as Ansible does: (exit status, its JSON result)."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / ".collections"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, disco_nodes_module.__file__],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"the module printed no JSON (status {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def test_the_module_refuses_bad_nodes_without_calling_the_master():
    status, result = run_module(
        {"url": f"http://127.0.0.1:{free_port()}", "nodes": [{"host": "a", "workers": 1}, {"host": "a", "workers": 1}]}
    )
    assert status == 1 and result["failed"]
    assert result["msg"] == "nodes[2]: host 'a' is listed twice (Disco refuses duplicate nodes)"


def test_the_module_against_a_stand_in_reports_changes_and_diff(stand_in):
    url, handler = stand_in
    handler.script = [(200, [["localhost", "2"]])]
    status, result = run_module({"url": url, "nodes": [{"host": "a", "workers": 2}]}, check=True, diff=True)
    assert status == 0, result
    assert result["changed"] is True
    assert result["added"] == ["a"] and result["removed"] == ["localhost"] and result["updated"] == []
    assert result["diff"]["before"] == "localhost 2\n" and result["diff"]["after"] == "a 2\n"
    assert [method for method, _path, _body in handler.seen] == ["GET"]


# --- the role's table computation (its Jinja, through Ansible's Templar) ----------------------------------------


def trusted(value: Any) -> Any:
    """Role files as Ansible loads them: their strings may be templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return value


def role_table(hostvars: dict[str, dict[str, Any]], cluster: dict[str, Any], **overrides: Any) -> list[dict]:
    """disco_nodetable__table for these hosts (the first one in group disco_master)."""
    hosts = list(hostvars)
    variables = {
        # The dependency's defaults first, as Ansible merges them: disco_facts decides the master.
        **trusted(yaml.safe_load((REPO / "roles/disco_facts/defaults/main.yml").read_text())),
        **trusted(yaml.safe_load((ROLE / "defaults/main.yml").read_text())),
        **trusted(yaml.safe_load((ROLE / "vars/main.yml").read_text())),
        "hostvars": {"localhost": {"disco_cluster": cluster}, **hostvars},
        "groups": {"disco_master": hosts[:1], "disco_slaves": hosts[1:]},
        "ansible_play_hosts": hosts,
        "ansible_play_hosts_all": hosts,
        **overrides,
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template("{{ disco_nodetable__table }}"))


def facts(hostname: str, vcpus: int, **hostvars: Any) -> dict[str, Any]:
    return {"ansible_facts": {"hostname": hostname, "processor_vcpus": vcpus}, **hostvars}


CLUSTER = {
    "master": {"multiplier": 1},
    "slave_groups": [{"name": "small", "multiplier": 2}, {"name": "big", "multiplier": 3}],
}


def test_workers_are_vcpus_times_the_multiplier_of_the_node_or_its_group():
    hostvars = {
        "i-master": facts("ip-10-0-0-4", 2),
        "i-big": facts("ip-10-0-0-5", 4, disco_group="big"),
        "i-small": facts("ip-10-0-0-6", 8, disco_group="small"),
        "i-unknown": facts("ip-10-0-0-7", 1, disco_group="gone"),
        "i-nogroup": facts("ip-10-0-0-8", 16),
    }
    assert role_table(hostvars, CLUSTER) == [
        {"host": "ip-10-0-0-4", "workers": 2},
        {"host": "ip-10-0-0-5", "workers": 12},
        {"host": "ip-10-0-0-6", "workers": 16},
        {"host": "ip-10-0-0-7", "workers": 2},  # a group not in the configuration: the first group's multiplier
        {"host": "ip-10-0-0-8", "workers": 32},  # no group: the first group's multiplier
    ]


def test_a_master_with_multiplier_0_is_not_in_the_table():
    hostvars = {"i-master": facts("master", 2), "i-slave": facts("slave", 2, disco_group="small")}
    cluster = dict(CLUSTER, master={"multiplier": 0})
    assert role_table(hostvars, cluster) == [{"host": "slave", "workers": 4}]


def test_names_given_by_disco_hosts_win_over_gathered_ones():
    hostvars = {
        "i-master": facts("localhost", 2, disco_hosts_node={"name": "ip-10-0-0-4"}),
        "i-slave": facts("debian", 1, disco_hosts_node={"name": "ip-10-0-0-5"}),
    }
    assert [row["host"] for row in role_table(hostvars, CLUSTER)] == ["ip-10-0-0-4", "ip-10-0-0-5"]


def test_the_master_and_the_nodes_can_be_named():
    hostvars = {"a": facts("a", 1), "b": facts("b", 1), "c": facts("c", 1)}
    table = role_table(hostvars, CLUSTER, disco_nodetable_master="b", disco_nodetable_nodes=["b", "c"])
    assert table == [{"host": "b", "workers": 1}, {"host": "c", "workers": 2}]


def test_a_cluster_without_slave_groups_gives_slaves_one_worker_per_vcpu():
    hostvars = {"m": facts("m", 2), "s": facts("s", 3)}
    assert role_table(hostvars, {"master": {"multiplier": 2}, "slave_groups": []}) == [
        {"host": "m", "workers": 4},
        {"host": "s", "workers": 3},
    ]


def test_role_defaults_are_specified_and_commented():
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(defaults) == set(specs)
    assert all(name.startswith("disco_nodetable_") for name in defaults)
    lines = (ROLE / "defaults/main.yml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("disco_nodetable_"):
            assert lines[index - 1].startswith("# "), f"no comment above {line}"


# --- a real Disco master ----------------------------------------------------------------------------------------


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def image_key() -> str:
    """What the cached master image depends on: the files of the two roles and their dependencies, the node image."""
    digest = hashlib.sha256(docker("image", "inspect", "--format", "{{.Id}}", NODE_IMAGE).stdout.encode())
    for role in ("disco_facts", "disco_account", "disco_apt", "disco_install", "disco_service"):
        for path in sorted((REPO / "roles" / role).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def playbook(ansible_env: dict[str, str], inventory: Path, book: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(book), *extra],
        capture_output=True,
        text=True,
        env=dict(ansible_env, ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_DISPLAY_OK_HOSTS="1"),
        cwd=REPO,
        timeout=900,
        check=False,
    )


def build_master(container: str, sources: str, ansible_env: dict[str, str], workdir: Path) -> None:
    """disco_install + disco_service on the container, as the collection's users run them."""
    hosts = {container: {"ansible_connection": "community.docker.docker"}}
    inventory = write_yaml(workdir / "build-hosts.yml", {"all": {"children": {"disco_master": {"hosts": hosts}}}})
    book = write_yaml(
        workdir / "build.yml",
        [
            {
                "name": "A Disco master for the disco_nodes tests",
                "hosts": "disco_master",
                "gather_facts": True,
                "roles": [
                    {"role": "disposable.disco.disco_install", "vars": {"disco_install_sources_dir": sources}},
                    {"role": "disposable.disco.disco_service"},
                ],
            }
        ],
    )
    proc = playbook(ansible_env, inventory, book)
    if proc.returncode != 0:
        pytest.fail(f"building the Disco master failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")


def drop_older_images(image: str) -> None:
    """Remove the images of earlier keys (each is over 1 GB); one still in use stays."""
    repository = image.split(":", 1)[0]
    tags = docker("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()
    for tag in tags:
        if tag != image:
            docker("rmi", tag, check=False)


class Master:
    """The container running the master, and the master's URL on 127.0.0.1."""

    def __init__(self, container: str, url: str) -> None:
        self.container = container
        self.url = url

    def service(self, action: str) -> None:
        docker("exec", self.container, "service", "disco-master", action, timeout=120)

    def start(self) -> None:
        self.service("start")
        disco_nodes.load_table(self.url, timeout=90)  # answers once the web server is up

    def rows(self) -> Any:
        return disco_nodes.load_table(self.url, timeout=10)

    def set_rows(self, rows: list[list[str]]) -> None:
        disco_nodes.save_table(self.url, rows, timeout=10)


@pytest.fixture(scope="module")
def master(ansible_env, tmp_path_factory) -> Iterator[Master]:
    sources = os.environ.get("DISCO_SOURCES", "")
    if not sources:
        pytest.skip(SKIP_REASON)
    if not Path(sources, "disco").is_dir():
        pytest.fail(f"DISCO_SOURCES={sources} holds no 'disco' checkout (see docs/disco-on-debian.md)")
    image = f"disposable-disco/test-master:{image_key()}"
    cached = docker("image", "inspect", image, check=False).returncode == 0
    container = f"test-disco-nodes-{uuid.uuid4().hex[:8]}"
    try:
        docker(
            "run", "-d", "--init", "--name", container, "--hostname", MASTER_HOSTNAME,
            "-p", "127.0.0.1::8989", image if cached else NODE_IMAGE, "sleep", "infinity",
        )  # fmt: skip
        if not cached:
            build_master(container, sources, ansible_env, tmp_path_factory.mktemp("disco-master"))
            docker("exec", container, "service", "disco-master", "stop", timeout=120)
            docker("exec", container, "rm", "-f", "/srv/disco/disco_8989.config")  # a fresh master's table again
            docker("commit", container, image, timeout=600)
            drop_older_images(image)
        port = docker("port", container, "8989/tcp").stdout.split()[0].rsplit(":", 1)[1]
        server = Master(container, f"http://127.0.0.1:{port}")
        server.start()
        yield server
    finally:
        docker("rm", "-f", container, check=False)


NODES = [{"host": "slave1", "workers": 2}, {"host": "slave2", "workers": 3}]


def test_a_fresh_master_holds_localhost(master):
    rows = master.rows()
    assert len(rows) == 1 and rows[0][0] == "localhost" and int(rows[0][1]) >= 1


def test_setting_a_table_changes_it_and_the_same_again_does_not(master):
    status, result = run_module({"url": master.url, "nodes": NODES})
    assert status == 0, result
    assert result["changed"] is True
    assert result["removed"] == ["localhost"] and result["added"] == ["slave1", "slave2"]
    assert master.rows() == [["slave1", "2"], ["slave2", "3"]]
    status, result = run_module({"url": master.url, "nodes": NODES})
    assert status == 0 and result["changed"] is False, result
    assert result["nodes"] == NODES and result["previous_rows"] == [["slave1", "2"], ["slave2", "3"]]


def test_another_order_is_the_same_table(master):
    master.set_rows([["slave1", "2"], ["slave2", "3"]])
    status, result = run_module({"url": master.url, "nodes": NODES[::-1]}, diff=True)
    assert status == 0 and result["changed"] is False, result
    assert result["diff"]["before"] == result["diff"]["after"] == "slave1 2\nslave2 3\n"
    assert master.rows() == [["slave1", "2"], ["slave2", "3"]]  # not saved again


def test_check_mode_reports_the_change_and_saves_nothing(master):
    master.set_rows([["slave1", "2"], ["slave2", "3"]])
    wanted = [{"host": "slave1", "workers": 4}, {"host": "slave3", "workers": 1}]
    status, result = run_module({"url": master.url, "nodes": wanted}, check=True, diff=True)
    assert status == 0 and result["changed"] is True, result
    assert (result["added"], result["removed"], result["updated"]) == (["slave3"], ["slave2"], ["slave1"])
    assert result["diff"]["before"] == "slave1 2\nslave2 3\n" and result["diff"]["after"] == "slave1 4\nslave3 1\n"
    assert master.rows() == [["slave1", "2"], ["slave2", "3"]]


def test_a_range_in_the_table_is_compared_host_by_host(master):
    master.set_rows([["node08:10", "1"]])  # Disco's own notation for node08, node09, node10
    nodes = [{"host": f"node{number:02d}", "workers": 1} for number in (10, 9, 8)]
    status, result = run_module({"url": master.url, "nodes": nodes})
    assert status == 0 and result["changed"] is False, result
    status, result = run_module({"url": master.url, "nodes": nodes[:2]})
    assert status == 0 and result["changed"] is True and result["removed"] == ["node08"], result
    assert master.rows() == [["node10", "1"], ["node09", "1"]]


def test_an_empty_table(master):
    master.set_rows([["slave1", "2"]])
    status, result = run_module({"url": master.url, "nodes": []})
    assert status == 0 and result["changed"] is True and result["removed"] == ["slave1"], result
    assert master.rows() == []
    status, result = run_module({"url": master.url, "nodes": []})
    assert status == 0 and result["changed"] is False, result


def test_the_role_sets_the_table_from_facts(master, ansible_env, tmp_path):
    """Master = the container (docker connection); two slaves = the controller under other names."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = write_yaml(
        tmp_path / "hosts.yml",
        {
            "all": {
                "hosts": {"localhost": local},
                "children": {
                    "disco_master": {"hosts": {master.container: {"ansible_connection": "community.docker.docker"}}},
                    "disco_slaves": {
                        "hosts": {
                            "slave-a": dict(local, disco_group="big", disco_hosts_node={"name": "fake-slave-a"}),
                            "slave-b": dict(local, disco_hosts_node={"name": "fake-slave-b"}),
                        }
                    },
                },
            }
        },
    )
    book = write_yaml(
        tmp_path / "nodetable.yml",
        [
            {
                "name": "The configuration, as the role disposable.disco.disco leaves it",
                "hosts": "localhost",
                "gather_facts": False,
                "tasks": [{"name": "Set disco_cluster", "ansible.builtin.set_fact": {"disco_cluster": CLUSTER}}],
            },
            {
                "name": "Set the node table",
                "hosts": "disco_master:disco_slaves",
                "gather_facts": False,
                "roles": [{"role": "disposable.disco.disco_nodetable"}],
            },
        ],
    )
    vcpus = {
        "master": int(docker("exec", master.container, "nproc", "--all").stdout),
        "controller": os.cpu_count(),
    }
    expected = [
        [MASTER_HOSTNAME, str(vcpus["master"] * 1)],
        ["fake-slave-a", str(vcpus["controller"] * 3)],  # group big
        ["fake-slave-b", str(vcpus["controller"] * 2)],  # no group: the first one, small
    ]
    master.set_rows([["localhost", "1"]])
    first = playbook(ansible_env, inventory, book)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    assert first.stdout.split("PLAY RECAP")[1].count("changed=1") == 1, first.stdout[-3000:]  # the one module call
    assert sorted(master.rows()) == sorted(expected)
    second = playbook(ansible_env, inventory, book)
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-2000:]
    recap = second.stdout.split("PLAY RECAP")[1]
    assert "changed=0" in recap and "changed=1" not in recap, recap


def test_a_stopped_master_fails_naming_the_url_within_the_timeout(master):
    master.service("stop")
    try:
        started = time.monotonic()
        status, result = run_module({"url": master.url, "nodes": NODES, "timeout": 4})
        elapsed = time.monotonic() - started
        assert status == 1 and result["failed"], result
        url = f"{master.url}/disco/ctrl/load_config_table"
        assert result["msg"].startswith(f"the Disco master at {url} is not answering"), result
        assert "gave up after 4 s" in result["msg"]
        assert elapsed < 4 + 8, elapsed  # the timeout, plus starting Python
    finally:
        master.start()
