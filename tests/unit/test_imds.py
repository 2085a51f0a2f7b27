"""The local cloud's instance metadata service (roles/disco_localcloud/files/imds.py): IMDSv2 as EC2 answers
it with HttpTokens=required, and disco_s3 on a "node" writing to moto's S3 with no key anywhere but the
credentials the metadata service hands out (boto3's default chain, the instance role)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import role_files

REPO = Path(__file__).resolve().parents[2]
imds = role_files.load("imds", "roles/disco_localcloud/files/imds.py")

PROFILE = "nodes-profile"
ROLE = "nodes-role"
BUCKET = "disco-results"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture()
def metadata(moto, tmp_path: Path) -> Iterator[tuple[str, object]]:
    iam = moto.client("iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.create_instance_profile(InstanceProfileName=PROFILE)
    iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=ROLE)
    moto.client("s3").create_bucket(Bucket=BUCKET)
    instances = tmp_path / "instances.json"
    instances.write_text(json.dumps({"127.0.0.1": {"instance_id": "i-0123456789abcdef0", "instance_profile": PROFILE}}))
    state = imds.Metadata(moto_url=moto.url, region="us-east-1", instances_file=instances)
    server = imds.MetadataServer(("127.0.0.1", 0), state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    thread.join()


def call(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "PUT" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_imdsv2_is_required_as_ec2_requires_it(metadata):
    url, _state = metadata
    assert call(f"{url}/latest/meta-data/instance-id")[0] == 401, "no token, no answer (IMDSv1 refused)"
    assert call(f"{url}/latest/api/token", "PUT")[0] == 400, "a token needs its TTL header"
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    assert call(f"{url}/latest/api/token", "PUT", {**ttl, "X-Forwarded-For": "10.0.0.1"})[0] == 403
    assert call(f"{url}/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "21601"})[0] == 400
    status, token = call(f"{url}/latest/api/token", "PUT", ttl)
    assert status == 200 and token
    with_token = {"X-aws-ec2-metadata-token": token}
    assert call(f"{url}/latest/meta-data/instance-id", headers=with_token) == (200, "i-0123456789abcdef0")
    assert call(f"{url}/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": "forged"})[0] == 401
    assert call(f"{url}/latest/meta-data/iam/security-credentials/", headers=with_token) == (200, ROLE)
    status, body = call(f"{url}/latest/meta-data/iam/security-credentials/{ROLE}", headers=with_token)
    creds = json.loads(body)
    assert status == 200 and creds["Code"] == "Success" and creds["AccessKeyId"] and creds["Token"]
    assert call(f"{url}/latest/meta-data/iam/security-credentials/other-role", headers=with_token)[0] == 404


NODE_SCRIPT = """
import json, sys
import boto3
from disco_s3 import S3Connection
params = json.loads(sys.argv[1])
client = S3Connection.from_params(params).client()
client.put_object(Bucket=params["BUCKET"], Key=params["KEY"], Body=b"written by the instance role\\n")
credentials = None if params.get("AWS_KEY") else boto3.session.Session().get_credentials()
print(json.dumps({"method": credentials.method if credentials else None,
                  "signed_with": client._request_signer._credentials.access_key}))
"""


def node_env(url: str, tmp_path: Path) -> dict[str, str]:
    """A node's environment: no AWS key, no credentials or config file; only the metadata endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{url}/",
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "PYTHONPATH": str(REPO / "roles" / "disco_jobtools" / "files"),  # disco_s3 as on a node
        }
    )
    return env


def run_node(url: str, tmp_path: Path, params: dict[str, str]) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", NODE_SCRIPT, json.dumps(params)],
        env=node_env(url, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_disco_s3_writes_with_no_key_through_the_instance_role(metadata, moto, tmp_path):
    url, state = metadata
    params = {"ENDPOINT_URL": moto.url, "AWS_REGION": "us-east-1", "BUCKET": BUCKET, "KEY": "out/part-0"}
    seen = run_node(url, tmp_path, params)
    body = moto.client("s3").get_object(Bucket=BUCKET, Key="out/part-0")["Body"].read()
    assert body == b"written by the instance role\n"
    assert seen["method"] == "iam-role", seen
    assert seen["signed_with"].startswith("ASIA"), "temporary credentials of the role (moto's STS), not a key"
    log = [(method, path) for method, path, status in state.log if status == 200]
    assert ("PUT", "/latest/api/token") in log
    assert ("GET", f"/latest/meta-data/iam/security-credentials/{ROLE}") in log
    assert not [entry for entry in state.log if entry[2] == 401], "boto3 always sent its token"


def test_keys_in_the_params_still_win_over_the_instance_role(metadata, moto, tmp_path):
    url, state = metadata
    params = {
        "ENDPOINT_URL": moto.url,
        "AWS_REGION": "us-east-1",
        "BUCKET": BUCKET,
        "KEY": "out/part-1",
        "AWS_KEY": "AKIAPARAMSKEY0000000",
        "AWS_SECRET": "params-secret",
    }
    seen = run_node(url, tmp_path, params)
    assert seen["signed_with"] == "AKIAPARAMSKEY0000000"
    assert moto.client("s3").get_object(Bucket=BUCKET, Key="out/part-1")["Body"].read().startswith(b"written")
    assert state.log == [], "with keys in the params the metadata service is never asked"
