"""Disco on the cluster configure.yml made: disco-master (no tasks: multiplier 0), disco-slave1, disco-slave2.

Everything runs as a user would run it on the master (as disco, through `docker exec`): a corpus of 4 MiB of
text, made here from a fixed seed, is pushed to DDFS with `ddfs push`; word counts run with Disco's Python
client (files/wordcount.py) and every count is compared with collections.Counter over the same text. Then a
slave's Disco node is killed while a job runs on it, and a word count's reduce output goes gzipped to moto's
S3 through disco_s3.s3_line_output_stream (installed on the nodes by disco_jobtools). The figures measured on
the nodes (Disco build, slave join, word-count times) are printed at the end (pytest -s).
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from support import disco_suite

MASTER = "disco-master"
SLAVES = ["disco-slave1", "disco-slave2"]
MOTO = "disco-molecule-moto"  # started by create.yml on the scenario's network
MOTO_ON_NETWORK = f"http://{MOTO}:5000"  # S3 as the nodes reach it
WORKDIR = "/tmp/molecule-disco"  # on the master, the verifier's files (owned by disco)
JOB = Path(__file__).resolve().parent.parent / "files" / "wordcount.py"
DISCO_S3 = Path(__file__).resolve().parents[3] / "roles" / "disco_jobtools" / "files" / "disco_s3"  # the package
SEED = 20261124
PARTS = 8
PART_BYTES = 512 * 1024
PARTITIONS = 2
MAP_DELAY = 6  # seconds each map task of the slave-kill job waits first: the kill surely hits running tasks
# Fake credentials: moto accepts any.
FAKE_KEY = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
RUN = str(int(time.time()))  # names of this verify run (tags, jobs, keys): verify can run again on the same cluster
FIGURES: dict[str, str] = {}


def docker(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def as_disco(*argv: str, timeout: float = 300) -> str:
    """Run argv on the master as disco in WORKDIR (as a user logged in there would)."""
    return docker("exec", "-u", "disco", "-w", WORKDIR, MASTER, *argv, timeout=timeout).stdout


def master_python(code: str) -> object:
    """Run Python on the master as disco; code prints one JSON value."""
    return json.loads(as_disco("python3", "-c", code))


def nodeinfo() -> dict[str, dict]:
    return master_python("import json; from disco.core import Disco; print(json.dumps(Disco().nodeinfo()))")


def read_master(path: str) -> str:
    return docker("exec", MASTER, "cat", path).stdout


def write_master(path: str, content: str) -> None:
    subprocess.run(  # as disco: the file is disco's
        ["docker", "exec", "-i", "-u", "disco", MASTER, "sh", "-c", f"cat > {path}"],
        input=content,
        text=True,
        check=True,
        timeout=60,
    )


def job_config(name: str, tag: str, s3: dict | None = None, map_delay: float = 0) -> str:
    """Write a wordcount.py config on the master; returns its path."""
    path = f"{WORKDIR}/{name}.json"
    config = {"name": name, "input": [f"tag://{tag}"], "partitions": PARTITIONS, "s3": s3, "map_delay": map_delay}
    write_master(path, json.dumps(config))
    return path


def run_job(name: str, tag: str, s3: dict | None = None) -> dict:
    config = job_config(name, tag, s3)
    as_disco("python3", f"{WORKDIR}/wordcount.py", config, f"{WORKDIR}/{name}.out", timeout=600)
    return json.loads(read_master(f"{WORKDIR}/{name}.out"))


def assigned_hosts(events: list[list[str]], stage: str) -> collections.Counter[str]:
    """Tasks of a stage per host, from the master's 'map:3 assigned to disco-slave1' events."""
    found: collections.Counter[str] = collections.Counter()
    for entry in events:
        match = re.fullmatch(rf"{stage}:\d+ assigned to (\S+)", entry[2])
        if match:
            found[match.group(1)] += 1
    return found


def seconds_between(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 1)


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[dict[str, str]]:
    yield FIGURES
    print("\n==== measured figures (molecule/disco) ====")
    for label, value in FIGURES.items():
        print(f"  {label:<46} {value}")


@pytest.fixture(scope="module", autouse=True)
def workdir() -> str:
    """WORKDIR on the master with the job script, owned by disco."""
    docker("exec", MASTER, "mkdir", "-p", f"{WORKDIR}/corpus")
    docker("cp", str(JOB), f"{MASTER}:{WORKDIR}/wordcount.py")
    docker("exec", MASTER, "chown", "-R", "disco:disco", WORKDIR)
    return WORKDIR


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, collections.Counter[str]]:
    """4 MiB of text in 8 files, the same for every run (fixed seed), pushed to a DDFS tag; its word counts."""
    rng = random.Random(SEED)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "en", "da", "po", "qu", "ri", "sa", "ul", "xe"]
    words = ("".join(rng.choice(syllables) for syllable in range(rng.randint(1, 4))) for word in range(8000))
    vocabulary = sorted(set(words))
    vocabulary += ["Disco,", "MapReduce.", "(spot)", "naïve", "café"]  # punctuation and non-ASCII words too
    rng.shuffle(vocabulary)
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like, as words in real text
    directory = tmp_path_factory.mktemp("corpus")
    expected: collections.Counter[str] = collections.Counter()
    for part in range(PARTS):
        lines, size = [], 0
        while size < PART_BYTES:
            line = " ".join(rng.choices(vocabulary, weights, k=rng.randint(4, 16)))
            lines.append(line)
            size += len(line.encode()) + 1
        text = "\n".join(lines) + "\n"
        (directory / f"part-{part:02d}").write_text(text, encoding="utf-8")
        expected.update(text.split())  # the plain Python count
    docker("cp", f"{directory}/.", f"{MASTER}:{WORKDIR}/corpus")
    docker("exec", MASTER, "chown", "-R", "disco:disco", f"{WORKDIR}/corpus")
    tag = f"data:molecule-corpus-{RUN}"
    started = time.monotonic()
    parts = [f"{WORKDIR}/corpus/part-{part:02d}" for part in range(PARTS)]
    as_disco("ddfs", "push", tag, *parts)
    FIGURES["ddfs push, 4 MiB (8 blobs x 2 replicas)"] = f"{time.monotonic() - started:.1f} s"
    FIGURES["corpus: words / distinct words"] = f"{sum(expected.values())} / {len(expected)}"
    return tag, expected


RELEASE = os.environ.get("DISCO_MOLECULE_RELEASE", "trixie")
RELEASE_NUMBER = {"bookworm": "12", "trixie": "13"}


def test_nodes_booted_like_ec2_instances_of_the_release() -> None:
    """systemd is PID 1 on every node, the OS is the scenario's release, cloud-init processed the user data."""
    for node in [MASTER, *SLAVES]:
        assert docker("exec", node, "cat", "/proc/1/comm").stdout.strip() == "systemd", node
        assert f'VERSION_ID="{RELEASE_NUMBER[RELEASE]}"' in docker("exec", node, "cat", "/etc/os-release").stdout
        assert "status: done" in docker("exec", node, "cloud-init", "status", check=False).stdout, node
        role = "master" if node == MASTER else "slave"
        assert f"role={role}\n" in docker("exec", node, "cat", "/etc/disposable-disco/node").stdout, node


def test_master_runs_as_the_systemd_service() -> None:
    """`systemctl` says disco-master is enabled and active, and its cgroup holds the master's Erlang VM."""
    assert docker("exec", MASTER, "systemctl", "is-enabled", "disco-master").stdout.strip() == "enabled"
    assert docker("exec", MASTER, "systemctl", "is-active", "disco-master").stdout.strip() == "active"
    tree = docker("exec", MASTER, "systemd-cgls", "--no-pager", "-u", "disco-master.service").stdout
    assert "beam" in tree, tree
    for slave in SLAVES:  # slaves run no master service
        result = docker("exec", slave, "systemctl", "is-active", "disco-master", check=False)
        assert result.stdout.strip() in ("inactive", "unknown"), (slave, result.stdout)


def test_disco_built_on_the_master_and_installed_everywhere() -> None:
    build_id = read_master("/usr/lib/disco/BUILD-ID").strip()
    for node in SLAVES:
        assert docker("exec", node, "cat", "/usr/lib/disco/BUILD-ID").stdout.strip() == build_id
        # Slaves get the built tree and runtime packages only: no compiler, no build directory.
        assert docker("exec", node, "test", "-e", "/var/cache/disco-install", check=False).returncode != 0
        status = docker("exec", node, "dpkg-query", "-W", "-f", "${Status}", "erlang-dev", check=False).stdout
        assert "installed" not in status.split()

    # Build figures from the master's own records: apt's history, the build directory's file times. When the
    # controller's cache already held this build id (an earlier run), the master built nothing and ships it.
    if docker("exec", MASTER, "test", "-d", "/var/cache/disco-install/src", check=False).returncode != 0:
        FIGURES["build"] = f"none: disco-{build_id}.tar.gz came from the controller's cache"
        return
    history = read_master("/var/log/apt/history.log").split("\n\n")
    build_apt = next(entry for entry in history if re.search(r"^Install:.*\berlang-dev\b", entry, re.M))
    apt_start, apt_end = (
        datetime.strptime(re.search(rf"^{key}: (.+)$", build_apt, re.M).group(1).strip(), "%Y-%m-%d  %H:%M:%S")
        for key in ("Start-Date", "End-Date")
    )
    stamps = docker(
        "exec",
        MASTER,
        "stat",
        "-c",
        "%Y",
        "/var/cache/disco-install/src",
        "/var/cache/disco-install/patches",
        f"/var/cache/disco-install/disco-{build_id}.tar.gz",
    ).stdout.split()
    sources, patched, packed = (int(stamp) for stamp in stamps)
    FIGURES["build: apt of the build packages (master)"] = f"{seconds_between(apt_start, apt_end):.0f} s"
    FIGURES["build: sources in, patches, make, pack"] = f"{packed - sources} s"
    FIGURES["build: make install + pack alone"] = f"{packed - patched} s"


def test_both_slaves_joined_and_the_master_runs_no_tasks() -> None:
    info = nodeinfo()
    assert sorted(info) == SLAVES  # master multiplier 0: not in the node table
    vcpus = int(docker("exec", SLAVES[0], "nproc", "--all").stdout)
    for node in SLAVES:
        assert info[node]["connected"], info
        assert info[node]["max_workers"] == vcpus  # vCPUs x slave multiplier 1
        assert not info[node]["blacklisted"]

    # How long the slaves took to join, from the master's log of the converge run: the master's (last) boot,
    # the node table set by disco_nodetable, each slave's Erlang node started by the master over SSH.
    log = read_master("/srv/disco/log/console.log").splitlines()

    def when(line: str) -> datetime:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f")

    for node in SLAVES:
        added = next(i for i, line in enumerate(log) if f'Adding new node "{node}"' in line)
        boot = max(i for i, line in enumerate(log[:added]) if "DISCO BOOTS" in line)
        started = next(line for line in log[added:] if "Node started at" in line and f'on "{node}"' in line)
        FIGURES[f"join {node}: master start -> table set"] = f"{seconds_between(when(log[boot]), when(log[added]))} s"
        FIGURES[f"join {node}: table set -> node up"] = f"{seconds_between(when(log[added]), when(started))} s"


def test_job_helpers_on_every_node() -> None:
    for node in [MASTER, *SLAVES]:
        out = docker("exec", "-u", "disco", node, "python3", "-c", "import disco_s3; print(disco_s3.__file__)").stdout
        assert out.strip() == "/usr/lib/python3/dist-packages/disco_s3/__init__.py"


def test_the_lifetime_timer_runs_on_every_node_and_the_master_publishes_its_state() -> None:
    """disco_lifetime (the scenario keeps the default 60-minute idle timeout): a timer on every node, the master's
    state served by Disco's web server to the slaves, as a slave's agent reads it."""
    for node in [MASTER, *SLAVES]:
        state = docker("exec", node, "systemctl", "is-active", "disco-lifetime.timer", check=False).stdout.strip()
        assert state == "active", f"{node}: disco-lifetime.timer is {state}"
        settings = json.loads(docker("exec", node, "cat", "/etc/disco-lifetime.json").stdout)
        assert settings["role"] == ("master" if node == MASTER else "slave")
        assert settings["idle_timeout"] == 3600 and settings["max_lifetime"] == 0
    master_url = json.loads(docker("exec", SLAVES[0], "cat", "/etc/disco-lifetime.json").stdout)["master_url"]
    deadline = time.monotonic() + 90  # the master's first look comes within 30 s of the timer's start
    status: dict = {}
    while time.monotonic() < deadline:
        answer = docker(
            "exec",
            SLAVES[0],
            "python3",
            "-c",
            "import urllib.request; print(urllib.request.urlopen("
            f"'{master_url}/disco-lifetime.json', timeout=10).read().decode())",
            check=False,
        )
        if answer.returncode == 0:
            status = json.loads(answer.stdout)
            break
        time.sleep(5)
    assert status.get("ending") is False and status.get("ends_at"), status
    journal = docker("exec", MASTER, "journalctl", "-u", "disco-lifetime", "--no-pager", "-o", "cat").stdout
    assert "ends now" not in journal, journal


def test_word_count_over_both_slaves(corpus: tuple[str, collections.Counter[str]]) -> None:
    tag, expected = corpus
    result = run_job(f"molecule-wc-{RUN}", tag)
    assert result["status"] == "ready", result["error"]
    assert result["counts"] == dict(expected)  # every word, every count
    maps = assigned_hosts(result["events"], "map")
    assert set(maps) == set(SLAVES), f"map tasks per host: {dict(maps)}"
    FIGURES["word count, 4 MiB (submit -> results)"] = f"{result['seconds']} s"
    FIGURES["  map tasks per slave"] = ", ".join(f"{host} {count}" for host, count in sorted(maps.items()))


def test_a_slave_killed_during_a_job(corpus: tuple[str, collections.Counter[str]]) -> None:
    """Kill disco-slave2's Erlang node and workers while it runs tasks: the job completes, exact, on disco-slave1.

    The job's map tasks wait MAP_DELAY seconds before mapping, so the ones assigned to disco-slave2 are running
    when its processes are killed (a task that had finished there would only delay the shuffle until the node is
    back: its output stays on the node's disk).

    What Disco does (asserted below): the master reports the lost connection and each task that ran there as
    failed on the node, retries it after a pause on a node that works (the inputs have a replica on each slave),
    and restarts the killed node over SSH about 15 s later.
    """
    tag, expected = corpus
    name = f"molecule-kill-{RUN}"
    config = job_config(name, tag, map_delay=MAP_DELAY)
    job = subprocess.Popen(
        ["docker", "exec", "-u", "disco", "-w", WORKDIR, MASTER, "python3", "wordcount.py", config, f"{name}.out"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        victim = SLAVES[1]
        deadline = time.monotonic() + 60
        job_name = ""
        while time.monotonic() < deadline:
            job_name = job_name or docker("exec", MASTER, "cat", f"{WORKDIR}/{name}.out.name", check=False).stdout
            if job_name and victim in assigned_hosts(job_events(job_name), "map"):
                break
            assert job.poll() is None, "the job ended before a task ran on the slave to kill"
            time.sleep(0.2)
        else:
            pytest.fail(f"no map task of {job_name or name} was assigned to {victim} within 60 s")
        pids = docker("exec", victim, "pgrep", "-u", "disco").stdout.split()
        commands = docker("exec", victim, "ps", "-o", "args=", "-p", ",".join(pids)).stdout
        assert "disco_8989_slave" in commands  # the slave's Erlang node is among them
        killed_at = time.monotonic()
        docker("exec", victim, "kill", "-9", *pids, check=False)  # short-lived helpers may be gone already
        assert "disco_8989_slave" not in docker("exec", victim, "ps", "-o", "args=", "-u", "disco", check=False).stdout
        job_stderr = job.communicate(timeout=300)[1]
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, job_stderr
    result = json.loads(read_master(f"{WORKDIR}/{name}.out"))
    messages = [entry[2] for entry in result["events"]]
    failed = [m for m in messages if re.fullmatch(rf'Task map:\d+ failed on "{victim}".*', m)]
    assert failed, "\n".join(messages)  # the loss is reported per task
    assert any("Connection lost to the node" in m for m in messages)
    assert result["status"] == "ready", result["error"]  # ... and the job completes
    assert result["counts"] == dict(expected)  # with every count exact
    done = {int(match.group(1)) for m in messages if (match := re.match(r"DONE: \[map:(\d+)\]", m))}
    assert done == set(range(PARTS))  # every map task finished somewhere
    # The killed node comes back: the master restarts it over SSH.
    while not nodeinfo()[victim]["connected"]:
        assert time.monotonic() - killed_at < 120, f"{victim} did not rejoin within 120 s"
        time.sleep(1)
    FIGURES["word count, disco-slave2 killed mid-job"] = f"{result['seconds']} s"
    FIGURES["  map tasks failed there, then retried"] = str(len(failed))
    FIGURES["  killed slave: kill -> connected again"] = f"{time.monotonic() - killed_at:.0f} s"


def job_events(job_name: str) -> list[list[str]]:
    return master_python(
        "import json, sys; from disco.core import Disco; "
        f"print(json.dumps([list(item[1]) for item in Disco().events({job_name!r})]))"
    )


@pytest.fixture(scope="module")
def s3_bucket() -> tuple[object, str]:
    """A bucket in moto's S3, through the port moto's container publishes on 127.0.0.1; (client, bucket)."""
    published = docker("port", MOTO, "5000/tcp").stdout.split()[0]  # 127.0.0.1:<port>
    assert published.startswith("127.0.0.1:")
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{published}",
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_SECRET,
        region_name=REGION,
    )
    bucket = f"molecule-disco-{RUN}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def s3_params(bucket: str) -> dict:
    """disco_s3 params of the jobs: moto's S3 as the nodes reach it, gzipped objects under results/."""
    return {
        "BUCKET_NAME": bucket,
        "ENDPOINT_URL": MOTO_ON_NETWORK,
        "AWS_KEY": FAKE_KEY,
        "AWS_SECRET": FAKE_SECRET,
        "AWS_REGION": REGION,
        "gzip": True,
        "KEY_PREFIX": "results/",
    }


def s3_counts(s3: object, bucket: str, job: str) -> collections.Counter[str]:
    """The word counts a job wrote to S3: one gzip object per reduce partition, word<TAB>count lines."""
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{job}/")
    keys = sorted(item["Key"] for item in listing.get("Contents", []))
    assert keys == [f"results/{job}/part-{partition:05d}.gz" for partition in range(PARTITIONS)]
    counts: collections.Counter[str] = collections.Counter()
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert body[:2] == b"\x1f\x8b"  # gzip
        for line in gzip.decompress(body).decode("utf-8").splitlines():
            word, count = line.split("\t")
            assert word not in counts  # each word in one partition, once
            counts[word] = int(count)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")  # nothing left half-done
    return counts


def test_word_count_to_s3_through_disco_s3(
    corpus: tuple[str, collections.Counter[str]], s3_bucket: tuple[object, str]
) -> None:
    """Reduce output streamed gzipped to moto's S3 (on the scenario's network) by the installed disco_s3."""
    tag, expected = corpus
    s3, bucket = s3_bucket
    result = run_job(f"molecule-s3-{RUN}", tag, s3=s3_params(bucket))
    assert result["status"] == "ready", result["error"]
    assert s3_counts(s3, bucket, result["job"]) == expected
    reduces = assigned_hosts(result["events"], "reduce")
    FIGURES["word count to S3 via disco_s3, gzip"] = f"{result['seconds']} s"
    FIGURES["  reduce tasks per slave"] = ", ".join(f"{host} {count}" for host, count in sorted(reduces.items()))


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """This machine as a user's laptop: one SSH tunnel to Disco's proxy on the master and Disco's Python client.

    `ssh -L <port>:127.0.0.1:8999 admin@<master>` (here the master's sshd is published on 127.0.0.1; the key is
    authorised for admin, host key checking stays on) and the client library copied from the master; DISCO_MASTER
    and DISCO_PROXY both name the tunnel, so the master's API and every node's data (results, blobs) go through
    the proxy. Yields the environment a job script runs with.
    """
    home = tmp_path_factory.mktemp("laptop")
    key = home / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "molecule-laptop"], check=True)
    subprocess.run(
        ["docker", "exec", "-i", MASTER, "sh", "-c", "cat >> /home/admin/.ssh/authorized_keys"],
        input=Path(f"{key}.pub").read_text(),
        text=True,
        check=True,
        timeout=60,
    )
    ssh_port = docker("port", MASTER, "22/tcp").stdout.split()[0].rsplit(":", 1)[1]
    host_key = " ".join(docker("exec", MASTER, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2])
    (home / "known_hosts").write_text(f"[127.0.0.1]:{ssh_port} {host_key}\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    client = home / "client"
    client.mkdir()
    for package in ("disco", "clx"):  # Disco's client, exactly the master's (patched for Python 3.11)
        docker("cp", f"{MASTER}:/usr/lib/python3/dist-packages/{package}", str(client / package))
    # the collection's, for the job's reduce_output_stream
    shutil.copytree(DISCO_S3, client / "disco_s3", ignore=shutil.ignore_patterns("__pycache__"))
    # fmt: off
    tunnel = subprocess.Popen([
        "ssh", "-N", "-i", str(key), "-p", ssh_port, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={home / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
        "-o", "ExitOnForwardFailure=yes", "-L", f"127.0.0.1:{local_port}:127.0.0.1:8999", "admin@127.0.0.1",
    ])
    # fmt: on
    try:
        deadline = time.monotonic() + 30
        while True:
            assert tunnel.poll() is None, "ssh -L ended"
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", local_port)) == 0:
                    break
            assert time.monotonic() < deadline, "the tunnel did not open within 30 s"
            time.sleep(0.3)
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": str(client),
                "DISCO_MASTER": f"http://localhost:{local_port}",
                "DISCO_PROXY": f"http://localhost:{local_port}",
                "DISCO_HOME": str(home),  # the client wants one; nothing is read from it
                "HOME": str(home),  # no ~/.disco settings file
            }
        )
        yield {"env": env, "dir": str(home)}
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=30)


def test_job_from_a_laptop_through_the_ssh_tunnel(
    corpus: tuple[str, collections.Counter[str]], s3_bucket: tuple[object, str], laptop: dict
) -> None:
    """Submitted from outside the cluster, through `ssh -L 8989:localhost:8989`, its output read from S3."""
    tag, expected = corpus
    s3, bucket = s3_bucket
    env, home = laptop["env"], Path(laptop["dir"])
    info = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from disco.core import Disco; print(json.dumps(sorted(Disco().nodeinfo())))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(info.stdout) == SLAVES  # the master's API answers through the tunnel
    config = home / "laptop.json"
    name = f"molecule-laptop-{RUN}"
    config.write_text(
        json.dumps({"name": name, "input": [f"tag://{tag}"], "partitions": PARTITIONS, "s3": s3_params(bucket)})
    )
    subprocess.run(
        [sys.executable, str(JOB), str(config), str(home / "laptop.out")],
        env=env,
        cwd=home,
        check=True,
        timeout=600,
    )
    result = json.loads((home / "laptop.out").read_text())
    # The laptop's Python need not be the nodes' (this one is 3.11; Debian 13's nodes run 3.13): the job's
    # functions travel with their source too and a node of another version compiles them (patch disco/0111).
    nodes_python = docker("exec", MASTER, "python3", "-c", "import sys; print(sys.version_info[:2])").stdout.strip()
    failed = [event for event in result["events"] if "ERROR" in str(event) or "FATAL" in str(event)][-5:]
    assert result["status"] == "ready", (
        f"laptop {sys.version_info[:2]}, nodes {nodes_python}: {result['error']}; last errors: {failed}"
    )
    assert set(assigned_hosts(result["events"], "map")) <= set(SLAVES)
    assert s3_counts(s3, bucket, result["job"]) == expected
    FIGURES["word count from the laptop via the tunnel, to S3"] = f"{result['seconds']} s"


def listening(host: str, port: int) -> list[str]:
    """Local addresses of the host's listening TCP sockets on ``port`` (IPv4 and IPv6), from /proc/net/tcp*."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in docker("exec", host, "cat", table).stdout.splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def test_the_proxy_listens_on_the_masters_loopback_only() -> None:
    """lighttpd, started by the master (DISCO_PROXY_ENABLED), on 127.0.0.1:8999; Debian's own lighttpd is off."""
    assert listening(MASTER, 8999) == ["0100007F"], "the proxy listens on 127.0.0.1 only"
    assert listening(MASTER, 80) == [], "Debian's lighttpd service is stopped"
    for slave in SLAVES:
        assert listening(slave, 8999) == [], f"{slave} runs no proxy"


def laptop_python(laptop: dict, code: str, timeout: float = 300) -> object:
    run = subprocess.run(
        [sys.executable, "-c", code], env=laptop["env"], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_results_and_ddfs_from_the_laptop_through_the_proxy(
    corpus: tuple[str, collections.Counter[str]], laptop: dict
) -> None:
    """result_iterator over a job's results (files on the slaves), ddfs push and pull, all through the one tunnel."""
    tag, expected = corpus
    result = run_job(f"molecule-proxy-{RUN}", tag)
    assert result["status"] == "ready", result["error"]
    paths = [replicas[0].split("/", 3)[3] for replicas in result["results"]]  # one list of replica URLs each
    assert all("." in path for path in paths), f"result paths have dots (.results): {paths}"
    code = (
        "import json, sys\n"
        "from disco.core import result_iterator\n"
        "counts = {}\n"
        f"for word, count in result_iterator({result['results']!r}):\n"
        "    word = word.decode() if isinstance(word, bytes) else word\n"
        "    counts[word] = counts.get(word, 0) + int(count)\n"
        "print(json.dumps(counts))\n"
    )
    started = time.monotonic()
    assert laptop_python(laptop, code) == dict(expected)  # every word, every count, read from the slaves
    FIGURES["result_iterator from the laptop via the proxy"] = f"{time.monotonic() - started:.1f} s"
    pushed = Path(laptop["dir"]) / "pushed.txt"
    content = "".join(f"laptop line {number}\n" for number in range(1000))
    pushed.write_text(content)
    name = f"data:laptop-{RUN}"
    code = (
        "import json\n"
        "from disco.ddfs import DDFS\n"
        "ddfs = DDFS()\n"
        f"ddfs.push({name!r}, [{str(pushed)!r}])\n"
        f"blobs = [list(replicas) for replicas in ddfs.blobs({name!r})]\n"
        f"data = b''.join(blob.read() for blob in ddfs.pull({name!r}))\n"
        "print(json.dumps({'blobs': blobs, 'data': data.decode()}))\n"
    )
    pulled = laptop_python(laptop, code)
    assert pulled["data"] == content, "pulled through the proxy as pushed"
    replicas = pulled["blobs"][0]
    assert len(pulled["blobs"]) == 1 and len(replicas) == len(SLAVES), f"one blob on both slaves: {replicas}"
    assert as_disco("ddfs", "cat", name) == content, "the master reads what the laptop pushed"


def test_disco_functional_suite_fast_set(tmp_path: Path) -> None:
    """Disco's own functional suite (tests/ of the pinned commit), the fast set, on this cluster's master.

    Run as a user runs it (playbooks/disco_suite.yml, role disco_suite: module by module as disco, each bounded),
    through molecule's own inventory, where the master is in group disco_master. Last: some modules blacklist
    nodes and kill jobs, which the tests above must not see.
    """
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "MOLECULE_INVENTORY_FILE is not set: run this through `molecule verify -s disco`"
    report = tmp_path / "suite.md"
    root = Path(__file__).resolve().parents[3]
    started = time.monotonic()
    proc = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            inventory,
            str(root / "playbooks" / "disco_suite.yml"),
            "-e",
            f"disco_suite_report={report}",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert report.exists(), proc.stdout[-6000:] + proc.stderr[-2000:]
    table = report.read_text()
    print("\n" + table)
    rows = disco_suite.results(table)
    assert rows, table
    assert not disco_suite.not_passed(rows), table
    assert sum(row.tests for row in rows) > 100, table  # the fast set holds over a hundred tests
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    FIGURES["Disco's functional suite, fast set"] = disco_suite.summary(rows, time.monotonic() - started)
