"""The moto fixture itself: calls are recorded by action name, and reset forgets them."""

import boto3


def test_records_ec2_calls_by_action(moto):
    ec2 = boto3.client("ec2", endpoint_url=moto.url, **_creds(moto))
    ec2.describe_instances()
    ec2.describe_spot_instance_requests()
    assert moto.calls() == ["DescribeInstances", "DescribeSpotInstanceRequests"]
    moto.reset()
    assert moto.calls() == []


def _creds(moto):
    return {
        "region_name": moto.env["AWS_REGION"],
        "aws_access_key_id": moto.env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": moto.env["AWS_SECRET_ACCESS_KEY"],
    }
