"""The job runner of role disco_job (files/disco_job_run.py) where it needs no cluster: S3 inputs listed from this
machine's endpoint and signed for the nodes' (the local cloud's two names of one moto), against moto's server over
real HTTP with real boto3; params for S3 output; a result file written atomically."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "roles/disco_job/files/disco_job_run.py"
NODES_ENDPOINT = "http://disco-moto:5000"  # moto as the nodes reach it, by container name


@pytest.fixture(scope="module")
def runner():
    """The script as a module; its ``import disco_s3`` finds the package on pytest's path, as in the client's venv."""
    spec = importlib.util.spec_from_file_location("disco_job_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def base_spec(moto, **extra):
    return {
        "params": {"AWS_KEY": moto.env["AWS_ACCESS_KEY_ID"], "AWS_SECRET": moto.env["AWS_SECRET_ACCESS_KEY"]},
        "s3_endpoint": NODES_ENDPOINT,
        "s3_endpoint_here": moto.url,
        "output": {"kind": "none"},
        **extra,
    }


def test_s3_inputs_are_listed_here_and_signed_for_the_nodes(runner, moto):
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="logs")
    for key in ("2026/12/a.log", "2026/12/b.log", "2026/11/c.log"):
        s3.put_object(Bucket="logs", Key=key, Body=b"x\n")
    spec = base_spec(moto, urls=["tag://data:more"], s3_inputs=[{"bucket": "logs", "prefix": "2026/12/"}])
    inputs = runner.expand_inputs(spec)
    assert inputs[0] == "tag://data:more"
    signed = inputs[1:]
    assert [urlsplit(url).path for url in signed] == ["/logs/2026/12/a.log", "/logs/2026/12/b.log"]
    for url in signed:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == NODES_ENDPOINT, "signed for the endpoint the nodes use"
        query = parse_qs(parts.query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and "X-Amz-Signature" in query
        assert query["X-Amz-Expires"] == ["86400"], "valid for a day: a long job reads its inputs late"


def test_an_empty_s3_prefix_is_refused_naming_it(runner, moto):
    moto.client("s3").create_bucket(Bucket="logs")
    spec = base_spec(moto, s3_inputs=[{"bucket": "logs", "prefix": "nothing/"}])
    with pytest.raises(SystemExit, match="input: nothing under s3://logs/nothing/"):
        runner.expand_inputs(spec)


def test_s3_output_params_name_the_bucket_and_prefix_gzip_by_default(runner, moto):
    spec = base_spec(moto, output={"kind": "s3", "bucket": "results", "prefix": "counts/"})
    params = runner.s3_params(spec)
    assert params["BUCKET_NAME"] == "results" and params["KEY_PREFIX"] == "counts/"
    assert params["gzip"] is True and params["ENDPOINT_URL"] == NODES_ENDPOINT
    spec["params"]["gzip"] = False
    assert runner.s3_params(spec)["gzip"] is False, "the job's own params win"


def test_the_result_file_is_replaced_whole(runner, tmp_path):
    path = tmp_path / "result.json"
    runner.write_json(str(path), {"status": "ready"})
    runner.write_json(str(path), {"status": "dead", "error": "x"})
    assert json.loads(path.read_text()) == {"status": "dead", "error": "x"}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
