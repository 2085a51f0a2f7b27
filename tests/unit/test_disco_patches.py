"""The patches of role disco_install against the pinned sources, and what the proxy ones change.

Every patch of `disco_install_patches` applies, in its order, to the pinned commit of its repository (the checkouts
of DISCO_SOURCES, as the role applies them on the build host); the patched `disco.util` then proxies what a laptop
client must reach through the master (results.gz, blobs: urls whose path has a dot; a job's dir:// result index
urls) and nothing external.
Without DISCO_SOURCES these tests are SKIPPED, loudly.
"""

from __future__ import annotations

import json
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


JOB_MODULE = """
from typing import Any, Iterator

LIMIT = 2


class Job:
    @staticmethod
    def map(line: bytes, params: Any, limit: int = LIMIT) -> Iterator[tuple[bytes, int]]:
        for word in line.split()[:limit]:
            yield word, 1


def reduce(entries, out, params=None):
    import operator

    return sorted(entries, key=operator.itemgetter(0))


square = lambda x: x * x  # noqa: E731 - what a job may hold
"""


def in_patched_python(tree: Path, workdir: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tree), "PYTHONPATH": f"{tree / 'lib'}:{workdir}"}
    return subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=workdir, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("client_magic", ["other", "same"])
def test_job_functions_load_on_a_node_of_another_python(
    patched: dict[str, Path], tmp_path: Path, client_magic: str
) -> None:
    """disco/0111: a job's functions sent by a client whose bytecode version (magic) is not the node's are rebuilt
    from their source (annotations, decorators and defaults not evaluated there; the defaults travel), a lambda is
    refused naming itself; from a client of the node's version the code object loads as before."""
    tree = patched["disco"]
    (tmp_path / "userjob.py").write_text(JOB_MODULE)
    sent = in_patched_python(
        tree,
        tmp_path,
        "from disco import dPickle\n"
        "import userjob\n"
        + ("dPickle.MAGIC_NUMBER = b'\\x00\\x00\\r\\n'\n" if client_magic == "other" else "")
        + "open('funcs.pickle', 'wb').write(dPickle.dumps((userjob.Job.map, userjob.reduce), -1))\n"
        "open('lambda.pickle', 'wb').write(dPickle.dumps((userjob.square,), -1))\n",
    )
    assert sent.returncode == 0, sent.stderr
    (tmp_path / "userjob.py").unlink()  # the node has the pickle only, as in a job pack
    node = in_patched_python(
        tree,
        tmp_path,
        "import json\n"
        "from disco import dPickle\n"
        "fmap, freduce = dPickle.loads(open('funcs.pickle', 'rb').read())\n"
        "print(json.dumps([[w.decode(), n] for w, n in fmap(b'c a b', None)]))\n"
        "print(json.dumps([fmap.__defaults__, freduce([('b', 1), ('a', 2)], None), fmap.__code__.co_filename]))\n"
        "try:\n"
        "    print(dPickle.loads(open('lambda.pickle', 'rb').read())[0](3))\n"
        "except ValueError as error:\n"
        "    print('refused:', error)\n",
    )
    assert node.returncode == 0, node.stderr
    lines = node.stdout.splitlines()
    assert json.loads(lines[0]) == [["c", 1], ["a", 1]], "the default limit 2 travelled with the function"
    defaults, reduced, filename = json.loads(lines[1])
    assert defaults == [2] and reduced == [["a", 2], ["b", 1]]
    if client_magic == "other":
        assert filename == "<job function map>", "rebuilt from its source"
        assert lines[2].startswith("refused: job function <lambda> comes from a Python of another bytecode version")
    else:
        assert filename.endswith("userjob.py"), "the marshalled code object, as before the patch"
        assert lines[2] == "9"
