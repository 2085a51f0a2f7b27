"""The patches of role disco_install against the pinned sources, and what the proxy ones change.

Every patch of `disco_install_patches` applies, in its order, to the pinned commit of its repository (the checkouts
of DISCO_SOURCES, as the role applies them on the build host); the patched `disco.util` then proxies what a laptop
client must reach through the master (results.gz, blobs: urls whose path has a dot; a job's dir:// result index
urls) and nothing external.
Without DISCO_SOURCES these tests are SKIPPED, loudly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles/disco_install"
DEFAULTS = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
PROXY = "http://localhost:8990"
INDEX = "dir://ip-172-31-0-5/disco/ip-172-31-0-5/ab/WordCount@5a1:b2/.disco/reduce-0.results"
SKIP_REASON = (
    "DISCO_SOURCES is not set: the patches are not checked against the pinned sources (SKIPPED). Set DISCO_SOURCES "
    "to a directory of Disco checkouts (docs/disco-on-debian.md, 'DISCO_SOURCES') to run them."
)


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def patched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A clone of each patched repository at its pinned commit with the role's patches applied in order."""
    sources = os.environ.get("DISCO_SOURCES", "")
    if not sources:
        pytest.skip(SKIP_REASON)
    root = tmp_path_factory.mktemp("patched")
    trees: dict[str, Path] = {}
    for name, patches in DEFAULTS["disco_install_patches"].items():
        origin = Path(sources, name)
        if not origin.is_dir():
            pytest.fail(f"DISCO_SOURCES={sources} holds no {name!r} checkout (see docs/disco-on-debian.md)")
        tree = root / name
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(origin), str(tree)], check=True, timeout=120)
        git("checkout", "-q", DEFAULTS["disco_install_repos"][name]["version"], cwd=tree)
        for patch in patches:
            applied = subprocess.run(
                ["git", "apply", str(ROLE / "files" / patch)],
                cwd=tree,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert applied.returncode == 0, f"{patch} does not apply after the ones before it: {applied.stderr}"
        trees[name] = tree
    return trees


def test_every_patch_applies_in_order_and_changes_its_tree(patched: dict[str, Path]) -> None:
    for name, tree in patched.items():
        changed = git("status", "--porcelain", cwd=tree).stdout.splitlines()
        assert changed, f"the patches of {name} changed nothing"


def proxied(tree: Path, *calls: str) -> list[str]:
    """proxy_url(...) of the patched library, in a Python of its own (the library reads settings at import)."""
    script = "from disco.util import proxy_url\n" + "".join(f"print(proxy_url({call}))\n" for call in calls)
    env = {"PATH": os.environ["PATH"], "HOME": str(tree), "PYTHONPATH": str(tree / "lib")}
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


def test_results_and_blobs_go_through_the_proxy_external_urls_do_not(patched: dict[str, Path]) -> None:
    result = "http://ip-172-31-0-5:8989/disco/ip-172-31-0-5/ab/WordCount@5a1:b2/reduce/results.gz"
    blob = "http://ip-172-31-0-5:8989/ddfs/vol0/blob/ab/data.txt$5a1-b2-c3"
    assert proxied(
        patched["disco"],
        f"{result!r}, proxy={PROXY!r}, to_master=False",
        f"{blob!r}, proxy={PROXY!r}, meth='PUT', to_master=False",
        f"'http://localhost:8989/disco/ctrl/jobinfo?name=a.b', proxy={PROXY!r}",
        f"'http://example.org/data.txt', proxy={PROXY!r}, to_master=False",
        f"'http://172.31.0.5:8989/x', proxy={PROXY!r}, to_master=False",
        f"'https://ip-172-31-0-5:8989/x', proxy={PROXY!r}, to_master=False",
        f"{result!r}, proxy='', to_master=False",
        f"{INDEX!r}, proxy={PROXY!r}, to_master=False",
        f"{INDEX!r}, proxy='', to_master=False",
    ) == [
        f"{PROXY}/proxy/ip-172-31-0-5/GET/disco/ip-172-31-0-5/ab/WordCount@5a1:b2/reduce/results.gz",
        f"{PROXY}/proxy/ip-172-31-0-5/PUT/ddfs/vol0/blob/ab/data.txt$5a1-b2-c3",
        f"{PROXY}/disco/ctrl/jobinfo?name=a.b",
        "http://example.org/data.txt",  # a host name with a dot: an external resource, fetched directly
        "http://172.31.0.5:8989/x",
        "https://ip-172-31-0-5:8989/x",  # only http is proxied
        result,  # no proxy set: the url as it is (the nodes themselves)
        f"{PROXY}/proxy/ip-172-31-0-5/GET/disco/ip-172-31-0-5/ab/WordCount@5a1:b2/.disco/reduce-0.results",
        INDEX,  # no proxy: dir:// as Disco always opened it
    ]


# the client under test resolves no name but the loopback's: without the patch it would look the slave's name up
LOOPBACK_ONLY = """import socket
_getaddrinfo = socket.getaddrinfo
def _loopback_only(host, *args, **kwargs):
    if host not in ("127.0.0.1", "localhost"):
        raise socket.gaierror(socket.EAI_NONAME, "test: only the loopback resolves, not " + str(host))
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = _loopback_only
"""


class FakeProxy(BaseHTTPRequestHandler):
    """The master's lighttpd proxy as a client sees it: /proxy/<node>/GET/<path> answers with that node's file."""

    files: ClassVar[dict[str, bytes]] = {}
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_proxy() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), FakeProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_jobs_result_index_is_read_through_the_proxy(patched: dict[str, Path], fake_proxy: str) -> None:
    """parse_dir (what result_iterator expands a job's results with) reads the dir:// index through DISCO_PROXY;
    the slave's name (ip-172-31-0-5) resolves nowhere here, as it does not on a laptop."""
    entry = "disco://ip-172-31-0-5/disco/ip-172-31-0-5/ab/WordCount@5a1:b2/reduce-0-1"
    FakeProxy.asked.clear()
    FakeProxy.files = {INDEX.replace("dir://ip-172-31-0-5/", "/proxy/ip-172-31-0-5/GET/"): f"0 {entry} 42\n".encode()}
    script = LOOPBACK_ONLY + f"from disco.util import parse_dir\nfor url in parse_dir({INDEX!r}):\n    print(url)\n"
    env = {"PATH": os.environ["PATH"], "HOME": str(patched["disco"]), "PYTHONPATH": str(patched["disco"] / "lib")}
    run = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DISCO_PROXY": fake_proxy},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [entry]
    assert FakeProxy.asked == [INDEX.replace("dir://ip-172-31-0-5/", "/proxy/ip-172-31-0-5/GET/")]


def test_the_proxy_lighttpd_config_binds_the_loopback_only(patched: dict[str, Path]) -> None:
    """The template disco_proxy.erl writes lighttpd's config from (the proxy relays PUTs to any node)."""
    source = (patched["disco"] / "master/src/disco_proxy.erl").read_text()
    template = source.split("-define(LIGHTTPD_CONFIG_TEMPLATE,", 1)[1].split(").", 1)[0]
    assert '"server.bind = \\"127.0.0.1\\"\\n"' in template
    assert template.count("server.bind") == 1
