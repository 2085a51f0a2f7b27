"""Fixtures of the job helpers' tests (the package disco_s3): a bucket in the session's moto server, over HTTP,
and job params that reach it."""

from __future__ import annotations

import boto3
import pytest

BUCKET = "disco-out"


def client_for(url, env):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture()
def s3(moto):
    client = client_for(moto.url, moto.env)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture()
def params(moto, s3):
    """Job params as the original tool took them, plus the endpoint of the moto server."""
    return {
        "AWS_KEY": moto.env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET": moto.env["AWS_SECRET_ACCESS_KEY"],
        "BUCKET_NAME": BUCKET,
        "ENDPOINT_URL": moto.url,
        "AWS_REGION": moto.env["AWS_REGION"],
        "JOB_NAME": "wordcount@5a1:b2",
    }
