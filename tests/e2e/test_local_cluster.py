"""End to end: `make local-cluster` (scripts/local-cluster.sh) runs launch.yml against the local cloud.

moto's server in a container plays EC2 and S3; each instance is a docker container configured by the same configure
playbook over the docker connection. One scenario, in order: launch 1 master + 2 slaves, re-run (changed=0), a word
count whose reduce output goes gzipped into moto's S3 through disco_s3 and is compared with a count made here, this
machine as a user's laptop (playbooks/client.yml: ddfs push, a job, result_iterator through the one tunnel; then
playbooks/job.yml with the three examples/jobs and a failing job), a spot interruption announced to a slave by the
local cloud's metadata service (the slave is blacklisted, a job runs without it), the slave lost (its instance
terminated in moto, as a spot reclaim), launch again (a new instance and container replace it, the node table lists
only live nodes), a second job, a re-run with a 2-minute idle timeout after which the cluster ends itself (every
node powers off and its instance is terminated), teardown (nothing of the cluster left in moto or docker, the
laptop's tunnel closed), then moto itself removed. Everything is removed in a finalizer whatever happens.

Disco's own functional suite is not run here: CI runs its fast set on Debian 13 in the `disco` molecule scenario,
and this test's time goes to the laptop's workflow instead (`make disco-suite` runs the suite on a local cluster of
either release, docs/disco-on-debian.md).

The nodes boot like EC2's Debian images (systemd as PID 1, cloud-init processing the instance's user data as moto
holds it); the master runs as the systemd service disco-master. DISCO_E2E_RELEASE chooses the Debian release the
nodes run (bookworm, the default here, or trixie): the local cloud's default release, as the test's AMI id is not
one of Debian's.

Needs DISCO_SOURCES (a directory of Disco checkouts, see docs/local-cloud.md): without it the test is skipped,
loudly. Talks only to 127.0.0.1 and to the containers it starts.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import random
import re
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from support.motoserver import client_at

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCRIPT = REPO / "scripts" / "local-cluster.sh"
JOB = HERE / "wordcount_job.py"
CLIENT = REPO / "playbooks" / "client.yml"
JOBS = REPO / "examples" / "jobs"
JOB_PLAYBOOK = "ansible-playbook", str(REPO / "playbooks" / "job.yml")
DISCO_S3 = REPO / "roles" / "disco_jobtools" / "files" / "disco_s3"  # the package
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
TIMING = re.compile(
    r"^  (validation|provision|containers|configure|Disco build|status|teardown|job|total)\s+([\d.]+) s$", re.M
)
TAG_KEY = "disposabledisco"
RELEASE = os.environ.get("DISCO_E2E_RELEASE", "bookworm")
RELEASE_NUMBER = {"bookworm": "12", "trixie": "13"}
BUCKET = "disco-e2e"
# The client venv's pip packages: boto3, installed from DISCO_CLIENT_WHEELS (make setup), never from an index.
CLIENT_PIP = '{"disco_client_pip_packages": ["boto3"]}'


def client_env() -> dict[str, str]:
    """pip of the client venv (role disco_client) installs from the wheels `make setup` downloaded, offline."""
    wheels = os.environ.get("DISCO_CLIENT_WHEELS", "")
    if not wheels or not list(Path(wheels).glob("boto3-*.whl")):
        pytest.fail(f"DISCO_CLIENT_WHEELS={wheels!r} holds no boto3 wheel: run the test through make (make e2e)")
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheels}


NOTICE_TIME = "2026-12-02T07:02:00Z"  # the interruption notice's time: any, the spot watch reports it as given
STEP_TIMEOUT = 1500  # seconds for one launch; the whole test aims at about 15 minutes on 2 cores

SKIP_REASON = (
    "DISCO_SOURCES is not set: the END-TO-END LOCAL CLUSTER TEST DID NOT RUN (tests/e2e/test_local_cluster.py). "
    "It builds Disco offline from a directory of checkouts (disco lager goldrush mochiweb folsom bear meck "
    "folsomite plists at the pinned commits): export DISCO_SOURCES=/path/to/them, see docs/local-cloud.md."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def recap_of(output: str) -> dict[str, dict[str, int]]:
    """The last PLAY RECAP: host -> ok, changed, unreachable, failed."""
    recaps = output.split("PLAY RECAP")
    assert len(recaps) > 1, output[-4000:]
    rows = RECAP.findall(recaps[-1])
    return {
        row[0]: {"ok": int(row[1]), "changed": int(row[2]), "unreachable": int(row[3]), "failed": int(row[4])}
        for row in rows
    }


@dataclass
class LocalCloud:
    """The test's local cluster: its configuration file, its names, and the means to drive and inspect it."""

    workdir: Path
    cluster: str
    port: int
    moto_name: str
    settings: dict
    env: dict[str, str]
    timings: list[tuple[str, dict[str, float]]] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "local.yml"

    def client(self, service: str):
        settings = self.settings
        return client_at(
            service,
            self.endpoint,
            settings["disco_region"],
            settings["disco_aws_access_key"],
            settings["disco_aws_secret_key"],
        )

    def run_script(self, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """scripts/local-cluster.sh COMMAND [extra] with the cloud's environment, its output captured, whatever its
        exit code."""
        return subprocess.run(
            ["bash", str(SCRIPT), command, *extra],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )

    def script(self, command: str, *extra: str, label: str) -> str:
        """scripts/local-cluster.sh COMMAND [extra], which must succeed; keeps its phase timings under LABEL."""
        started = time.monotonic()
        result = self.run_script(command, *extra)
        output = result.stdout + result.stderr
        (self.workdir / f"{label}.log").write_text(output)
        assert result.returncode == 0, f"local-cluster.sh {command} failed ({label}):\n{output[-8000:]}"
        phases = {name: float(value) for name, value in TIMING.findall(output)}
        phases["wall"] = time.monotonic() - started
        self.timings.append((label, phases))
        return output

    def launch(self, label: str) -> str:
        return self.script("up", label=label)

    def containers(self, role: str | None = None) -> dict[str, dict]:
        """The cluster's node containers (name -> labels, state)."""
        filters = ["--filter", f"label=disposable-disco-cluster={self.cluster}"]
        if role:
            filters += ["--filter", f"label=disposable-disco-role={role}"]
        names = docker("ps", "-a", *filters, "--format", "{{.Names}}").split()
        found = {}
        for name in names:
            info = json.loads(docker("inspect", name))[0]
            if info["Config"]["Labels"].get("disposable-disco-kind") == "node":
                found[name] = {"labels": info["Config"]["Labels"], "state": info["State"]["Status"], "info": info}
        return found

    def master(self) -> str:
        masters = list(self.containers("master"))
        assert len(masters) == 1, masters
        return masters[0]

    def web(self, path: str) -> object:
        """GET from the master's Disco web API through its port published on 127.0.0.1."""
        port = docker("port", self.master(), "8989/tcp").split()[0].rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return json.loads(response.read())

    def node_table(self) -> set[str]:
        return {row[0] for row in self.web("/disco/ctrl/load_config_table")}

    def live_hostnames(self) -> set[str]:
        return {node["labels"]["disposable-disco-hostname"] for node in self.containers().values()}

    def cluster_instances(self) -> list[dict]:
        """Instances of the cluster in moto that are not terminated."""
        reservations = self.client("ec2").describe_instances(
            Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [self.cluster]}]
        )["Reservations"]
        instances = [instance for reservation in reservations for instance in reservation["Instances"]]
        return [instance for instance in instances if instance["State"]["Name"] != "terminated"]

    def word_count(self, run: str, texts: list[str], keys: bool = True) -> dict:
        """Upload TEXTS, run the word count on the master, read its S3 output back and compare."""
        s3 = self.client("s3")
        for number, text in enumerate(texts):
            s3.put_object(Bucket=BUCKET, Key=f"{run}/input/part-{number:02d}.txt", Body=text.encode())
        config = {
            "bucket": BUCKET,
            "input_prefix": f"{run}/input/",
            "output_prefix": f"{run}/output/",
            "endpoint": f"http://{self.moto_name}:5000",  # moto as the nodes reach it, by container name
            # keys=False: none at all; the nodes' instance role (the local cloud's metadata service) serves
            "aws_key": self.settings["disco_aws_access_key"] if keys else None,
            "aws_secret": self.settings["disco_aws_secret_key"] if keys else None,
            "region": self.settings["disco_region"],
            "partitions": 3,
            "disco_s3_dir": "/tmp/disco-e2e/lib",
        }
        (self.workdir / f"{run}.json").write_text(json.dumps(config))
        master = self.master()
        docker("exec", master, "mkdir", "-p", "/tmp/disco-e2e/lib")
        docker("cp", str(JOB), f"{master}:/tmp/disco-e2e/wordcount_job.py")
        docker("cp", str(DISCO_S3), f"{master}:/tmp/disco-e2e/lib/disco_s3")
        docker("cp", str(self.workdir / f"{run}.json"), f"{master}:/tmp/disco-e2e/{run}.json")
        docker("exec", master, "chmod", "-R", "a+rX", "/tmp/disco-e2e")
        started = time.monotonic()
        result = subprocess.run(
            [
                "docker",
                "exec",
                master,
                "su",
                "-",
                "disco",
                "-c",
                f"python3 -W ignore /tmp/disco-e2e/wordcount_job.py /tmp/disco-e2e/{run}.json",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        seconds = time.monotonic() - started
        assert result.returncode == 0, f"job {run} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        prefix = f"{run}/output/{summary['job']}/"
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
        assert sorted(keys) == [f"{prefix}part-{number:05d}.gz" for number in range(3)], keys
        got: collections.Counter[str] = collections.Counter()
        for key in keys:
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            for line in gzip.decompress(body).decode().splitlines():
                word, count = line.split("\t")
                got[word] += int(count)
        expected = collections.Counter(word for text in texts for word in text.split())
        assert got == expected
        events = subprocess.run(
            ["docker", "exec", master, "su", "-", "disco", "-c", f"disco events '{summary['job']}'"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
        hosts = collections.Counter(re.findall(r"assigned to (\S+?)\"", events))
        summary.update({"seconds": seconds, "words": sum(expected.values()), "tasks_by_host": dict(hosts)})
        self.timings.append((f"job {run}", {"job": seconds}))
        return summary

    @property
    def user_key(self) -> Path:
        """The user's own SSH key: its public half is in disco_mgmt_keys, which cloud-init authorises for admin."""
        return self.workdir / "user_key"

    @property
    def client_dir(self) -> Path:
        return Path.home() / ".cache/disposable-disco/clusters" / self.cluster

    def client_playbook(self, label: str, *extra: str) -> dict[str, dict[str, int]]:
        """playbooks/client.yml with this cluster's configuration and EXTRA, as a user runs it; its recap.

        boto3 (for disco_s3's S3 listings and signed inputs on the laptop) from the wheels of `make setup`: the test
        talks to no index (client_env).
        """
        started = time.monotonic()
        result = subprocess.run(
            ["ansible-playbook", str(CLIENT), "-e", f"@{self.config_path}", "-e", CLIENT_PIP, *extra],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = result.stdout + result.stderr
        (self.workdir / f"{label}.log").write_text(output)
        assert result.returncode == 0, f"client.yml failed ({label}):\n{output[-8000:]}"
        self.timings.append((label, {"wall": time.monotonic() - started}))
        return recap_of(output)

    def job_playbook(
        self, label: str, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """playbooks/job.yml with this cluster's configuration and EXTRA (-e ...), as a user runs it (ENV: more of
        its environment, such as the user's AWS credentials)."""
        started = time.monotonic()
        result = subprocess.run(
            [*JOB_PLAYBOOK, "-e", f"@{self.config_path}", "-e", CLIENT_PIP, *extra],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        (self.workdir / f"{label}.log").write_text(result.stdout + result.stderr)
        self.timings.append((label, {"wall": time.monotonic() - started}))
        return result

    def from_laptop(self, command: str, timeout: int = 600) -> str:
        """COMMAND in a shell that has sourced the client's env file and nothing else of this test's environment."""
        result = subprocess.run(
            ["bash", "-c", f"source {self.client_dir / 'env'} && {command}"],
            cwd=self.workdir,
            env={"HOME": str(Path.home()), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        assert result.returncode == 0, f"{command} failed on the laptop:\n{output}"
        return result.stdout

    def tunnel_alive(self) -> bool:
        socket_path = self.client_dir / "tunnel.sock"
        check = subprocess.run(
            ["ssh", "-S", str(socket_path), "-O", "check", "disco"], capture_output=True, timeout=30, check=False
        )
        return check.returncode == 0

    def announce_interruption(self, instance_id: str) -> None:
        """The local cloud's metadata service gives ``instance_id`` a spot interruption notice (its instances file,
        re-read on change), as EC2 gives one about two minutes before it reclaims the instance."""
        path = Path.home() / ".cache/disposable-disco/localcloud" / self.cluster / "imds/instances.json"
        instances = json.loads(path.read_text())
        (address,) = [address for address, entry in instances.items() if entry["instance_id"] == instance_id]
        instances[address]["spot_action"] = {"action": "terminate", "time": NOTICE_TIME}
        path.write_text(json.dumps(instances))

    @staticmethod
    def wait_for(read, done, timeout: float):
        """``read()`` until ``done(value)`` or ``timeout`` seconds; the last value."""
        started = time.monotonic()
        value = read()
        while not done(value) and time.monotonic() - started < timeout:
            time.sleep(3)
            value = read()
        return value

    def ends_by_itself(self, timeout: float) -> dict:
        """Wait until no node container of the cluster runs and moto has no live instance of it; the master's
        journal of disco-lifetime (read while it still runs), the lifecycle watcher's log and the seconds taken."""
        master, journal = self.master(), ""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            running = [name for name, node in self.containers().items() if node["state"] == "running"]
            if master in running:
                journal = docker(
                    "exec", master, "journalctl", "-u", "disco-lifetime", "--no-pager", "-o", "cat", check=False
                )
            if not running and not self.cluster_instances():
                break
            time.sleep(5)
        return {
            "running": running,
            "journal": journal,
            "lifecycle": docker("logs", f"disco-lifecycle-{self.cluster}", check=False),
            "seconds": time.monotonic() - started,
        }

    def remove_everything(self) -> None:
        """Last resort of the finalizer: the cluster's containers and networks, the test's moto."""
        names = docker("ps", "-aq", "--filter", f"label=disposable-disco-cluster={self.cluster}", check=False).split()
        if names:
            docker("rm", "-f", *names, check=False)
        docker("rm", "-f", self.moto_name, check=False)
        for network in (f"disco-{self.cluster}", self.moto_name):
            docker("network", "rm", network, check=False)


def texts_for(seed: int, count: int) -> list[str]:
    """COUNT texts of made-up words, different for every seed."""
    generator = random.Random(seed)
    vocabulary = [f"w{number}" for number in range(300)] + ["disco", "spot", "moto", "map", "reduce"]
    return [
        "\n".join(" ".join(generator.choices(vocabulary, k=12)) for line in range(200)) + "\n" for text in range(count)
    ]


@pytest.fixture()
def local_cloud(
    tmp_path: Path, ansible_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> Iterator[LocalCloud]:
    sources = os.environ.get("DISCO_SOURCES", "")
    if not sources:
        with capsys.disabled():
            print("\n" + "=" * 100 + "\nSKIPPED: " + SKIP_REASON + "\n" + "=" * 100)
        pytest.skip(SKIP_REASON)
    assert Path(sources, "disco").is_dir(), f"DISCO_SOURCES={sources} holds no disco checkout"
    suffix = secrets.token_hex(3)
    settings = yaml.safe_load((REPO / "examples" / "local.yml").read_text())
    port = free_port()
    cloud = LocalCloud(
        workdir=tmp_path,
        cluster=f"e2e-{suffix}",
        port=port,
        moto_name=f"disco-e2e-moto-{suffix}",
        settings=settings,
        env={**ansible_env, **client_env(), "DISCO_SOURCES": str(Path(sources).resolve())},
    )
    settings.update(
        {
            "disco_cluster_name": cloud.cluster,
            "disco_aws_endpoint": cloud.endpoint,
            "disco_num_slaves": 2,
            "disco_localcloud_moto_name": cloud.moto_name,
            "disco_localcloud_default_release": RELEASE,
            # The nodes' instance role (issue 13): the second job carries no key
            "disco_instance_profile": "create",
            "disco_s3_buckets": [BUCKET],
        }
    )
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(cloud.user_key)], check=True)
    settings["disco_mgmt_keys"] = [Path(f"{cloud.user_key}.pub").read_text().strip()]
    cloud.config_path.write_text(yaml.safe_dump(settings))
    cloud.env["DISCO_LOCAL_CONFIG"] = str(cloud.config_path)
    try:
        yield cloud
    finally:
        cloud.run_script("down")
        cloud.remove_everything()
        with capsys.disabled():
            print(f"\n== local cluster end to end: phase timings (s), logs in {tmp_path}")
            for label, phases in cloud.timings:
                print(f"  {label:<18} " + "  ".join(f"{name} {value:.1f}" for name, value in phases.items()))


def test_local_cluster_end_to_end(local_cloud: LocalCloud) -> None:
    cloud = local_cloud

    # 1. Launch: moto in a container, 1 master + 2 slaves as containers, configured, Disco built and started.
    output = cloud.launch("launch")
    assert docker("inspect", "-f", "{{.State.Running}}", cloud.moto_name).strip() == "true"
    ports = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", cloud.moto_name))
    assert [binding["HostIp"] for binding in ports["5000/tcp"]] == ["127.0.0.1"], ports
    nodes = cloud.containers()
    assert RELEASE in RELEASE_NUMBER, f"DISCO_E2E_RELEASE={RELEASE}: bookworm or trixie"
    assert sorted(node["labels"]["disposable-disco-role"] for node in nodes.values()) == ["master", "slave", "slave"]
    instances = {instance["InstanceId"]: instance for instance in cloud.cluster_instances()}
    assert set(nodes) == set(instances), "one container per running instance, named after it"
    for name, node in nodes.items():
        assert node["state"] == "running"
        assert node["info"]["Config"]["Hostname"] == instances[name]["PrivateDnsName"].split(".")[0]
        assert node["info"]["Config"]["Image"] == f"disposable-disco/ec2-node:{RELEASE}"
        assert node["labels"]["disposable-disco-release"] == RELEASE
        # Booted like an EC2 instance: systemd is PID 1 and the OS is the release's.
        assert docker("exec", name, "cat", "/proc/1/comm").strip() == "systemd"
        os_release = docker("exec", name, "cat", "/etc/os-release")
        assert f'VERSION_ID="{RELEASE_NUMBER[RELEASE]}"' in os_release, os_release
        # cloud-init processed the instance's own user data, as moto holds it (role and group per instance).
        assert "status: done" in docker("exec", name, "cloud-init", "status")
        role = node["labels"]["disposable-disco-role"]
        node_file = docker("exec", name, "cat", "/etc/disposable-disco/node")
        assert f"cluster={cloud.cluster}\nrole={role}\n" in node_file, node_file
        assert docker("exec", name, "id", "-un", "admin").strip() == "admin", "cloud-init made the default user"
    # The master is the systemd service, running Erlang.
    master = cloud.master()
    assert docker("exec", master, "systemctl", "is-active", "disco-master").strip() == "active"
    assert "beam" in docker("exec", master, "systemd-cgls", "--no-pager", "-u", "disco-master.service")
    assert "docker exec" in output and "su - disco" in output, "the status says how to submit a job"

    # 2. Re-run: nothing changes anywhere.
    output = cloud.script("up", label="re-run")
    recap = recap_of(output)
    assert set(nodes) <= set(recap), recap
    assert {host: counts["changed"] for host, counts in recap.items() if counts["changed"]} == {}, recap

    # 3. A word count into moto's S3 (a bucket made here), read back here.
    assert cloud.node_table() == cloud.live_hostnames()
    cloud.client("s3").create_bucket(Bucket=BUCKET)
    first = cloud.word_count("run1", texts_for(1, 8))
    assert not first["shipped_disco_s3"], "disco_s3 is on the nodes' python3 path (role disco_jobtools)"
    assert any(host != nodes[cloud.master()]["labels"]["disposable-disco-hostname"] for host in first["tasks_by_host"])

    # 3b. The laptop (this machine) as a user's: playbooks/client.yml makes the client (the master's library in a
    #     venv, one SSH tunnel to Disco's proxy on the master, an env file); from a shell that only sourced that
    #     file, `ddfs push` of local files, a job defined by functions (this machine's Python 3.11 is bookworm's)
    #     on that tag, result_iterator over its results (files on the slaves) with exact counts, `disco jobs`.
    #     A second run changes nothing and keeps the live tunnel.
    cloud.client_playbook("client")
    assert cloud.tunnel_alive()
    laptop_texts = texts_for(4, 3)
    for number, text in enumerate(laptop_texts):
        (cloud.workdir / f"laptop-{number}.txt").write_text(text)
    tag = f"data:laptop-{cloud.cluster}"
    cloud.from_laptop(f"ddfs push {tag} ./laptop-0.txt ./laptop-1.txt ./laptop-2.txt")
    assert sorted(cloud.from_laptop(f"ddfs ls {tag}").split()) == [tag]
    started = time.monotonic()
    laptop = json.loads(cloud.from_laptop(f"python3 {JOB} --tag {tag}").strip().splitlines()[-1])
    cloud.timings.append(("job from laptop", {"job": time.monotonic() - started}))
    assert laptop["counts"] == dict(collections.Counter(w for text in laptop_texts for w in text.split()))
    assert laptop["results"] and all(r[0].startswith("dir://") for r in laptop["results"]), laptop["results"]
    assert laptop["job"] in cloud.from_laptop("disco jobs")
    port = re.search(r"DISCO_MASTER=http://localhost:(\d+)", (cloud.client_dir / "env").read_text()).group(1)
    recap = cloud.client_playbook("client-re-run")
    assert recap["localhost"]["changed"] == 0, recap
    assert cloud.tunnel_alive() and f"localhost:{port}" in (cloud.client_dir / "env").read_text()

    # 3b'. The same laptop reaching the master as it does on AWS: client.yml with disco_local_cloud false, so the
    #      master comes from EC2's view of the cluster (role disco_ec2, the cluster's moto being its EC2) and everything
    #      goes over plain SSH, the tunnel too: as admin with the user's own key given as --private-key (authorised by
    #      cloud-init from disco_mgmt_keys in the user data, no key of the test's put there), the master's host key
    #      accepted on first sight into the cluster's known_hosts under its instance id. Only the address is the
    #      test's: EC2's public address is moto's invention, so disco_ec2_role_hostvars points at the master's
    #      container. The local way's tunnel is closed first (as after the laptop's reboot): the new one is opened
    #      the AWS way, on the same port.
    master_id = cloud.master()
    address = next(iter(nodes[master_id]["info"]["NetworkSettings"]["Networks"].values()))["IPAddress"]
    aws_way = (
        "-e", '{"disco_local_cloud": false}',
        "-e", json.dumps({"disco_ec2_role_hostvars": {"master": {"ansible_host": address}}}),
        "--private-key", str(cloud.user_key),
    )  # fmt: skip
    socket_path = cloud.client_dir / "tunnel.sock"
    subprocess.run(["ssh", "-S", str(socket_path), "-O", "exit", "disco"], capture_output=True, timeout=30, check=True)
    assert not cloud.tunnel_alive()
    cloud.client_playbook("client-aws-way", *aws_way)
    assert cloud.tunnel_alive()
    pgrep = ["pgrep", "-af", "--", f"-S {socket_path}"]  # "--": the pattern starts with a dash
    tunnel_ssh = subprocess.run(pgrep, capture_output=True, text=True, check=False)
    assert f"-i {cloud.user_key}" in tunnel_ssh.stdout, f"the user's key: {tunnel_ssh.stdout}"
    assert f"HostKeyAlias={master_id}" in tunnel_ssh.stdout and "client_key" not in tunnel_ssh.stdout
    assert (cloud.client_dir / "tunnel").read_text().startswith(f"admin@{address} "), "plain SSH to the address"
    assert f"localhost:{port}" in (cloud.client_dir / "env").read_text(), "the port is kept"
    known = [line.split() for line in (cloud.client_dir / "known_hosts").read_text().splitlines() if line.strip()]
    host_key = docker("exec", master_id, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
    assert known == [[master_id, *host_key]], "the master's host key, known by its instance id"
    pushed = cloud.from_laptop(f"ddfs cat {tag}")
    assert sorted(pushed.split()) == sorted(w for text in laptop_texts for w in text.split()), "blobs via the proxy"
    assert laptop["job"] in cloud.from_laptop("disco jobs")
    recap = cloud.client_playbook("client-aws-way-re-run", *aws_way)
    assert recap["localhost"]["changed"] == 0 and cloud.tunnel_alive(), recap

    # 3c. job.yml with the examples (examples/jobs/): a word count of functions over a local directory into a local
    #     file, a join as a job class over two local files, the article's job into moto's S3 (gzip line files
    #     written by the reduce tasks through disco_s3; its S3 input signing is unit-tested), and a job that fails:
    #     a non-zero exit with the task's error.
    texts_dir = cloud.workdir / "texts"
    texts_dir.mkdir()
    for number, text in enumerate(laptop_texts):
        (texts_dir / f"part-{number}.txt").write_text(text)
    run = cloud.job_playbook(
        "job-wordcount", "-e", f"job={JOBS / 'wordcount.py'}", "-e", "input=texts/", "-e", "output=counts.tsv"
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    assert re.search(r"wordcount@\S+ (active|ready): map \d+/3 done", re.sub(r"\s+", " ", run.stdout)), "progress"
    counted = dict(line.split("\t") for line in (cloud.workdir / "counts.tsv").read_text().splitlines())
    assert {word: int(count) for word, count in counted.items()} == laptop["counts"]
    (cloud.workdir / "users.csv").write_text("user,1,ada\nuser,2,bob\nuser,3,cy\n")
    (cloud.workdir / "orders.csv").write_text("order,1,30\norder,1,12\norder,2,5\norder,9,99\n")
    run = cloud.job_playbook(
        "job-join", "-e", f"job={JOBS / 'join.py'}", "-e", "input=users.csv,orders.csv", "-e", "output=totals.tsv"
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    assert sorted((cloud.workdir / "totals.tsv").read_text().splitlines()) == ["1\tada 42", "2\tbob 5"]
    log_lines = [
        f'10.0.0.{n % 7} - - [02/Dec/2026:07:00:{n % 60:02d} +0000] "GET /{n} HTTP/1.1" {200 if n % 3 else 404} 12'
        for n in range(90)
    ]
    (cloud.workdir / "access.log").write_text("\n".join(log_lines) + "\n")
    run = cloud.job_playbook(
        "job-s3",
        "-e", f"job={JOBS / 's3_gzip.py'}", "-e", "input=access.log", "-e", f"output=s3://{BUCKET}/status/",
        "-e", f"s3_endpoint=http://{cloud.moto_name}:5000",
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    s3 = cloud.client("s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="status/").get("Contents", [])]
    # One gzip file per reduce partition that got a key (the job has 4; two statuses fill one or two of them).
    said = re.sub(r"\s+", " ", run.stdout)
    job_prefix = re.search(r"its reduce output under s3://[^/]+/(status/s3_gzip@[^/ ]+/)", said).group(1)
    assert keys and all(re.fullmatch(re.escape(job_prefix) + r"part-0000[0-3]\.gz", key) for key in keys), keys
    statuses: collections.Counter[str] = collections.Counter()
    for key in keys:
        for line in gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).decode().splitlines():
            status, count = line.split("\t")
            statuses[status] += int(count)
    assert statuses == {"200": 60, "404": 30}
    # The same log as an S3 input: job.yml lists the prefix from this machine (moto's published port, the laptop's
    # boto3 from the client venv) and signs a GET URL per object for the nodes (moto by its name); the counts come
    # back to a local file.
    s3.put_object(Bucket=BUCKET, Key="logs/2026/access.log", Body=(cloud.workdir / "access.log").read_bytes())
    run = cloud.job_playbook(
        "job-s3-input",
        "-e", f"job={JOBS / 's3_gzip.py'}", "-e", f"input=s3://{BUCKET}/logs/", "-e", "output=statuses.tsv",
        "-e", f"s3_endpoint=http://{cloud.moto_name}:5000", "-e", f"s3_endpoint_here={cloud.endpoint}",
        env={  # the user's own AWS credentials (boto3's chain) list and sign; none go into the job
            "AWS_ACCESS_KEY_ID": cloud.settings["disco_aws_access_key"],
            "AWS_SECRET_ACCESS_KEY": cloud.settings["disco_aws_secret_key"],
            "AWS_DEFAULT_REGION": cloud.settings["disco_region"],
        },
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    assert sorted((cloud.workdir / "statuses.tsv").read_text().splitlines()) == ["200\t60", "404\t30"]
    (cloud.workdir / "broken.py").write_text("def map(line, params):\n    raise ValueError('broken on purpose')\n")
    run = cloud.job_playbook("job-broken", "-e", f"job={cloud.workdir / 'broken.py'}", "-e", "input=users.csv")
    assert run.returncode != 0
    assert "broken on purpose" in run.stdout + run.stderr, (run.stdout + run.stderr)[-6000:]

    # 4. Spot interruption, then loss: the local cloud's metadata service announces an interruption to a slave
    #    (as EC2 does two minutes before); its spot watch has the master blacklist it, and a job runs with no task
    #    on it, counts exact. Then EC2 reclaims it (terminated in moto) and the next launch replaces it.
    lost = sorted(cloud.containers("slave"))[0]
    lost_hostname = nodes[lost]["labels"]["disposable-disco-hostname"]
    cloud.announce_interruption(lost)
    info = cloud.wait_for(lambda: cloud.web("/disco/ctrl/nodeinfo"), lambda i: i[lost_hostname]["blacklisted"], 90)
    assert info[lost_hostname]["blacklisted"], (info, docker("exec", lost, "journalctl", "-u", "disco-spot-watch"))
    journal = docker("exec", lost, "journalctl", "-u", "disco-spot-watch", "--no-pager", "-o", "cat")
    assert f"spot interruption notice: terminate at {NOTICE_TIME}" in journal, journal
    interrupted = cloud.word_count("run-spot", texts_for(3, 8))
    assert interrupted["tasks_by_host"] and lost_hostname not in interrupted["tasks_by_host"], interrupted
    cloud.client("ec2").terminate_instances(InstanceIds=[lost])
    cloud.launch("replace")
    slaves = cloud.containers("slave")
    assert len(slaves) == 2 and lost not in slaves, slaves
    assert {instance["InstanceId"] for instance in cloud.cluster_instances()} == set(cloud.containers())
    table = cloud.node_table()
    assert table == cloud.live_hostnames() and lost_hostname not in table, table
    info = cloud.web("/disco/ctrl/nodeinfo")
    assert all(info[host]["connected"] for host in table), info
    # The second job has no key anywhere: disco_s3 on the nodes gets the instance role's credentials from the
    # local cloud's metadata service (IMDSv2: a token PUT, then the credentials GET).
    try:
        second = cloud.word_count("run2", texts_for(2, 8), keys=False)
    except AssertionError as error:
        slave = sorted(cloud.containers("slave"))[0]
        seen = {
            "imds log": docker("logs", f"disco-imds-{cloud.cluster}", check=False)[-3000:],
            "slave /etc/environment": docker("exec", slave, "cat", "/etc/environment", check=False),
            "master manager environment": docker("exec", cloud.master(), "systemctl", "show-environment", check=False),
        }
        raise AssertionError(f"{error}\n{json.dumps(seen, indent=1)}") from None
    assert second["job"] != first["job"]
    imds_log = docker("logs", f"disco-imds-{cloud.cluster}")
    assert "PUT /latest/api/token 200" in imds_log, imds_log[-2000:]
    assert f"GET /latest/meta-data/iam/security-credentials/{TAG_KEY}-{cloud.cluster} 200" in imds_log

    # 5. The cluster ends itself (issue 14): a re-run with a 2-minute idle timeout keeps the first launch (tag
    #    disco-started). Once no job has run for 2 minutes the master publishes the end, every node powers off
    #    (systemd's poweroff: the container exits) and the local cloud terminates their instances, as EC2 ends
    #    instances launched with shutdown behaviour terminate. Nothing of the cluster is left running.
    started = {tag["Value"] for i in cloud.cluster_instances() for tag in i["Tags"] if tag["Key"] == "disco-started"}
    assert len(started) == 1, started
    node_ids = set(cloud.containers())
    cloud.script("up", "-e", "disco_idle_timeout=2", label="idle-timeout")
    assert {tag["Value"] for i in cloud.cluster_instances() for tag in i["Tags"] if tag["Key"] == "disco-started"} == (
        started
    ), "a re-run keeps the first launch"
    ends = cloud.ends_by_itself(timeout=480)
    # (No warning first: the cluster had been idle for longer than the new timeout already; unit-tested.)
    assert "the cluster ends now: no Disco job for" in ends["journal"], ends["journal"]
    assert ends["running"] == [] and cloud.cluster_instances() == [], ends
    for instance_id in node_ids:
        assert f"{instance_id}: its container stopped (exit code" in ends["lifecycle"], ends["lifecycle"]
    cloud.timings.append(("ended itself", {"after up": ends["seconds"]}))

    # 6. Teardown (moto kept to look at what is left in it), then a second one that removes moto too.
    cloud.script("down", "-e", "disco_localcloud_moto_keep=true", label="teardown")
    assert cloud.containers() == {}
    assert not cloud.tunnel_alive() and not cloud.client_dir.exists(), "teardown closed the client's tunnel"
    assert docker("network", "ls", "-q", "--filter", f"name=^disco-{cloud.cluster}$").strip() == ""
    assert cloud.cluster_instances() == []
    requests = cloud.client("ec2").describe_spot_instance_requests(
        Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [cloud.cluster]}]
    )["SpotInstanceRequests"]
    assert [request for request in requests if request["State"] in ("open", "active")] == [], requests
    roles = cloud.client("iam").list_roles()["Roles"]
    assert f"{TAG_KEY}-{cloud.cluster}" not in [role["RoleName"] for role in roles], "teardown removed the role"
    # What a cluster that ended itself leaves (docs/lifetime.md) is gone too: its templates and security group.
    ec2, ours = cloud.client("ec2"), [{"Name": f"tag:{TAG_KEY}", "Values": [cloud.cluster]}]
    assert ec2.describe_launch_templates(Filters=ours)["LaunchTemplates"] == []
    assert ec2.describe_security_groups(Filters=ours)["SecurityGroups"] == []
    cloud.script("down", label="teardown-moto")
    assert docker("ps", "-aq", "--filter", f"name=^{cloud.moto_name}$").strip() == ""
    assert docker("network", "ls", "-q", "--filter", f"name=^{cloud.moto_name}$").strip() == ""
