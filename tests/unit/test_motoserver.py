"""The moto fixture itself: calls are recorded by action name, and reset forgets them."""


def test_records_ec2_calls_by_action(moto):
    ec2 = moto.client("ec2")
    ec2.describe_instances()
    ec2.describe_spot_instance_requests()
    assert moto.calls() == ["DescribeInstances", "DescribeSpotInstanceRequests"]
    moto.reset()
    assert moto.calls() == []
