"""A node container (disposable-disco/ec2-node:trixie, as the local cloud boots it) and what issue 13 puts on it:

- booted from the user data the launch templates carry and a NoCloud meta-data *without* any key pair, cloud-init
  authorises the cluster's MGMT key for the admin user: a cluster without an EC2 key pair is reachable;
- a script in the node image's own Python, with boto3 and ``disco_s3`` and no key anywhere (no environment
  variable, no credentials or config file), writes to moto's S3 through the instance role that the local cloud's
  metadata service (IMDSv2) hands out.

Two short-lived containers with unique names, removed whatever happens. Needs docker and the node image
(``make images``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
import yaml
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import user_data
from ansible_collections.disposable.disco.plugins.module_utils.disco_localcloud import meta_data
from support import role_files

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
IMAGE = "disposable-disco/ec2-node:trixie"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq5Mb4mVxYh0bXH9c1Jm2bT3sQ0VhVQe7l8cQ2R9Xk1 me@laptop"


def docker(*args: str, timeout: int = 240, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed: {result.stderr.strip()[-2000:]}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    if not shutil.which("docker"):
        pytest.fail("docker is needed (the local cloud's node image)")
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail(f"{IMAGE} is missing: make images")
    return IMAGE


@pytest.fixture()
def container_name():
    name = f"iam-test-{uuid.uuid4().hex[:12]}"
    yield name
    docker("rm", "-f", name, check=False)


def test_the_admin_user_gets_the_mgmt_key_from_the_user_data_alone(image, container_name, tmp_path):
    seed = tmp_path / "seed"
    seed.mkdir()
    text = user_data("c1", "slave", "default", [KEY])
    (seed / "user-data").write_text(text)
    (seed / "meta-data").write_text(meta_data("i-0iamtest00000001", "ip-10-0-0-9", []))  # no key pair
    assert "public-keys" not in yaml.safe_load((seed / "meta-data").read_text())
    seed.chmod(0o755)
    docker(
        "run", "-d", "--name", container_name, "--hostname", "ip-10-0-0-9", "--network", "none",
        "--stop-signal", "SIGRTMIN+3", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "-v", f"{seed}:/var/lib/cloud/seed/nocloud:ro", image,
    )  # fmt: skip
    status = docker("exec", container_name, "timeout", "180", "cloud-init", "status", "--wait", check=False)
    assert "status: done" in status.stdout, status.stdout + status.stderr
    keys = docker("exec", container_name, "cat", "/home/admin/.ssh/authorized_keys").stdout
    assert KEY in keys.splitlines()
    schema = docker("exec", container_name, "cloud-init", "schema", "--system", check=False)
    assert "ssh_authorized_keys" not in schema.stdout + schema.stderr, schema.stdout + schema.stderr
    node = docker("exec", container_name, "cat", "/etc/disposable-disco/node").stdout
    assert node == "cluster=c1\nrole=slave\ngroup=default\n"


def _imds():
    return role_files.load("imds", "roles/disco_localcloud/files/imds.py")


NODE_SCRIPT = """
import json, os, sys
sys.path[:0] = ["/opt/boto", "/opt/disco"]
import disco_s3
params = json.loads(sys.argv[1])
assert not [k for k in os.environ if k.startswith("AWS_") and k != "AWS_EC2_METADATA_SERVICE_ENDPOINT"]
assert not os.path.exists(os.path.expanduser("~/.aws"))
client = disco_s3.S3Connection.from_params(params).client()
client.put_object(Bucket=params["BUCKET"], Key=params["KEY"], Body=b"from the node, no key\\n")
print(json.dumps({"signed_with": client._request_signer._credentials.access_key}))
"""


def test_a_node_writes_to_s3_with_no_key_through_the_metadata_service(image, container_name, moto, tmp_path):
    imds = _imds()
    iam = moto.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}  # fmt: skip
    iam.create_role(RoleName="node-role", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName="node-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="node-profile", RoleName="node-role")
    moto.client("s3").create_bucket(Bucket="disco-out")
    instances = tmp_path / "instances.json"
    instances.write_text(
        json.dumps({"127.0.0.1": {"instance_id": "i-0iamtest00000002", "instance_profile": "node-profile"}})
    )
    state = imds.Metadata(moto_url=moto.url, region="us-east-1", instances_file=instances)
    server = imds.MetadataServer(("127.0.0.1", 0), state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        import boto3

        boto = Path(boto3.__file__).resolve().parents[1]  # boto3, botocore and their pure-Python dependencies
        params = {"ENDPOINT_URL": moto.url, "AWS_REGION": "us-east-1", "BUCKET": "disco-out", "KEY": "part-0"}
        # The host's loopback (moto, the metadata service) only: a plain process, no systemd, no other network.
        result = docker(
            "run", "--rm", "--name", container_name, "--network", "host", "--user", "nobody",
            "-e", f"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:{server.server_address[1]}/",
            "-e", "HOME=/tmp",
            "-v", f"{boto}:/opt/boto:ro", "-v", f"{REPO / 'roles/disco_jobtools/files'}:/opt/disco:ro",
            "--entrypoint", "python3", image, "-c", NODE_SCRIPT, json.dumps(params),
            check=False,
        )  # fmt: skip
    finally:
        server.shutdown()
        thread.join()
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["signed_with"].startswith("ASIA"), seen
    assert moto.client("s3").get_object(Bucket="disco-out", Key="part-0")["Body"].read() == b"from the node, no key\n"
    done = [(method, path) for method, path, status in state.log if status == 200]
    assert ("PUT", "/latest/api/token") in done
    assert ("GET", "/latest/meta-data/iam/security-credentials/node-role") in done
