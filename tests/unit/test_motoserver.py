"""The strict stand-in itself: call record, ClientToken semantics, capacity refusals and per-call limits as AWS."""

from __future__ import annotations

import base64
import datetime
import time

import pytest
from botocore.exceptions import ClientError

AMI = "ami-12c6146b"


def test_records_ec2_calls_by_action(moto):
    ec2 = moto.client("ec2")
    ec2.describe_instances()
    ec2.describe_spot_instance_requests()
    assert moto.calls() == ["DescribeInstances", "DescribeSpotInstanceRequests"]
    moto.reset()
    assert moto.calls() == []


def _template(ec2, name="lt"):
    data = {"ImageId": AMI, "UserData": base64.b64encode(b"#cloud-config\n").decode()}
    return ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)["LaunchTemplate"]


def _fleet(ec2, template_id, types, subnets, count=2, token=None, market="spot"):
    overrides = [{"InstanceType": t, "SubnetId": s} for t in types for s in subnets]
    args = {"ClientToken": token} if token else {}
    return ec2.create_fleet(
        Type="instant",
        LaunchTemplateConfigs=[
            {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Latest"},
                "Overrides": overrides,
            }
        ],
        TargetCapacitySpecification={"TotalTargetCapacity": count, "DefaultTargetCapacityType": market},
        SpotOptions={"AllocationStrategy": "price-capacity-optimized"},
        **args,
    )


def _subnets(ec2):
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    return [(s["SubnetId"], s["AvailabilityZone"]) for s in subnets]


def _running(ec2):
    pages = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return [i for r in pages["Reservations"] for i in r["Instances"]]


def test_a_repeated_client_token_gets_the_first_answer_and_starts_nothing(moto):
    ec2 = moto.client("ec2")
    first = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken="t-1")
    again = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken="t-1")
    assert again["Instances"][0]["InstanceId"] == first["Instances"][0]["InstanceId"]
    assert len(_running(ec2)) == 1
    with pytest.raises(ClientError) as error:
        ec2.run_instances(ImageId=AMI, MinCount=2, MaxCount=2, ClientToken="t-1")
    assert error.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, ClientToken="t-2")
    assert len(_running(ec2)) == 2


def test_fleet_client_token_is_replayed_too(moto):
    ec2 = moto.client("ec2")
    template = _template(ec2)
    subnet = _subnets(ec2)[0][0]
    first = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [subnet], token="f-1")
    again = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [subnet], token="f-1")
    assert again["FleetId"] == first["FleetId"]
    assert len(_running(ec2)) == 2
    with pytest.raises(ClientError) as error:
        _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [subnet], count=3, token="f-1")
    assert error.value.response["Error"]["Code"] == "IdempotentParameterMismatch"


def test_refused_overrides_come_back_as_fleet_errors_and_the_others_are_used(moto):
    ec2 = moto.client("ec2")
    template = _template(ec2)
    (sub_a, zone_a), (sub_b, _zone_b) = _subnets(ec2)[:2]
    moto.refuse_capacity(instance_types=["m5.large"])
    moto.refuse_capacity(zones=[zone_a])
    answer = _fleet(ec2, template["LaunchTemplateId"], ["m5.large", "c5.large"], [sub_a, sub_b], count=3)
    launched = [
        (i["InstanceType"], i["LaunchTemplateAndOverrides"]["Overrides"]["SubnetId"]) for i in answer["Instances"]
    ]
    assert set(launched) == {("c5.large", sub_b)} and len(launched) == 3
    refused = {
        (
            e["LaunchTemplateAndOverrides"]["Overrides"]["InstanceType"],
            e["LaunchTemplateAndOverrides"]["Overrides"]["SubnetId"],
        )
        for e in answer["Errors"]
    }
    assert refused == {("m5.large", sub_a), ("m5.large", sub_b), ("c5.large", sub_a)}
    assert {e["ErrorCode"] for e in answer["Errors"]} == {"InsufficientInstanceCapacity"}
    assert {e["Lifecycle"] for e in answer["Errors"]} == {"spot"}
    assert all(i["InstanceLifecycle"] == "spot" for i in _running(ec2))


def test_no_capacity_anywhere_gives_errors_and_no_instance_and_on_demand_still_works(moto):
    ec2 = moto.client("ec2")
    template = _template(ec2)
    subnet = _subnets(ec2)[0][0]
    moto.refuse_capacity(code="MaxSpotInstanceCountExceeded")
    answer = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [subnet])
    assert answer.get("Instances", []) == [] and answer["FleetId"]
    assert [e["ErrorCode"] for e in answer["Errors"]] == ["MaxSpotInstanceCountExceeded"]
    assert _running(ec2) == []
    on_demand = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [subnet], market="on-demand")
    assert sum(len(i["InstanceIds"]) for i in on_demand["Instances"]) == 2
    with pytest.raises(ClientError) as error:
        ec2.run_instances(
            ImageId=AMI, MinCount=1, MaxCount=1, InstanceMarketOptions={"MarketType": "spot"}, SubnetId=subnet
        )
    assert error.value.response["Error"]["Code"] == "MaxSpotInstanceCountExceeded"
    moto.allow_capacity()
    assert len(_fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [subnet])["Instances"]) >= 1


def test_terminate_instances_takes_at_most_1000_ids(moto):
    ec2 = moto.client("ec2")
    with pytest.raises(ClientError) as error:
        ec2.terminate_instances(InstanceIds=[f"i-{n:017x}" for n in range(1001)])
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert moto.calls() == ["TerminateInstances"]


def test_fleet_instances_get_the_template_security_groups_and_user_data(moto):
    ec2 = moto.client("ec2")
    group = ec2.create_security_group(GroupName="g1", Description="d")["GroupId"]
    data = {"ImageId": AMI, "SecurityGroups": ["g1"], "UserData": base64.b64encode(b"#cloud-config\nx").decode()}
    template = ec2.create_launch_template(LaunchTemplateName="sg", LaunchTemplateData=data)["LaunchTemplate"]
    answer = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [_subnets(ec2)[0][0]], count=1)
    (instance_id,) = answer["Instances"][0]["InstanceIds"]
    (instance,) = _running(ec2)
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group]
    user_data = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(user_data) == b"#cloud-config\nx"
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
    assert versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]["SecurityGroups"] == ["g1"]


def test_security_group_deletion_can_be_made_to_linger(moto):
    ec2 = moto.client("ec2")
    group = ec2.create_security_group(GroupName="g2", Description="d")["GroupId"]
    moto.linger_security_groups(1)
    with pytest.raises(ClientError) as error:
        ec2.delete_security_group(GroupId=group)
    assert error.value.response["Error"]["Code"] == "DependencyViolation"
    ec2.delete_security_group(GroupId=group)
    assert group not in {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}


# --- networks: AWS's rules for groups and subnets, and a region without a default VPC ------------------------


def _interface_template(ec2, name, groups, public_ip=True, **extra):
    interface = {"DeviceIndex": 0, "AssociatePublicIpAddress": public_ip, "DeleteOnTermination": True}
    if groups:
        interface["Groups"] = groups
    data = {"ImageId": AMI, "NetworkInterfaces": [interface], **extra}
    return ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)["LaunchTemplate"]


def test_records_the_service_of_each_call(moto):
    moto.client("ec2").describe_vpcs()
    moto.client("iam").list_roles()
    assert moto.api_calls() == ["ec2:DescribeVpcs", "iam:ListRoles"]


def test_records_parameters_and_the_actions_aws_authorises_along_with_a_call(moto):
    iam = moto.client("iam")
    trust = '{"Version": "2012-10-17", "Statement": []}'
    iam.create_role(RoleName="r1", AssumeRolePolicyDocument=trust, Tags=[{"Key": "k", "Value": "v"}])
    iam.create_instance_profile(InstanceProfileName="p1", Tags=[{"Key": "k", "Value": "v"}])
    iam.add_role_to_instance_profile(InstanceProfileName="p1", RoleName="r1")
    ec2 = moto.client("ec2")
    template = ec2.create_launch_template(
        LaunchTemplateName="with-profile", LaunchTemplateData={"ImageId": AMI, "IamInstanceProfile": {"Name": "p1"}}
    )["LaunchTemplate"]
    _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [_subnets(ec2)[0][0]], count=1, market="on-demand")
    ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Arn": iam.get_instance_profile(InstanceProfileName="p1")["InstanceProfile"]["Arn"]},
    )
    ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)  # no profile: nothing passed
    requests = moto.api_requests()
    passed = {"iam:PassedToService": "ec2.amazonaws.com"}
    shown = [
        (r.action, r.params.get("InstanceProfileName") or r.params.get("RoleName"), r.context, r.implied_by)
        for r in requests
        if r.action.startswith("iam:")
    ]
    assert shown == [
        ("iam:CreateRole", "r1", {}, ""),
        ("iam:TagRole", "r1", {}, "CreateRole"),
        ("iam:CreateInstanceProfile", "p1", {}, ""),
        ("iam:TagInstanceProfile", "p1", {}, "CreateInstanceProfile"),
        ("iam:AddRoleToInstanceProfile", "p1", {}, ""),
        ("iam:PassRole", "r1", passed, "AddRoleToInstanceProfile"),
        ("iam:PassRole", "r1", passed, "CreateFleet"),
        ("iam:GetInstanceProfile", "p1", {}, ""),
        ("iam:PassRole", "r1", passed, "RunInstances"),
    ]
    # implied actions are not requests: calls() and api_calls() list only what was sent
    assert [r.action for r in requests if not r.implied_by] == moto.api_calls()
    assert "PassRole" not in moto.calls()
    moto.start_recording()
    assert moto.api_requests() == []


def test_group_names_with_a_subnet_of_a_non_default_vpc_are_refused(moto):
    ec2 = moto.client("ec2")
    vpc, (subnet, _other) = moto.custom_vpc()
    ec2.create_security_group(GroupName="named", Description="d", VpcId=vpc)
    with pytest.raises(ClientError) as error:
        ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroups=["named"])
    assert error.value.response["Error"]["Code"] == "InvalidParameterCombination"
    data = {"ImageId": AMI, "SecurityGroups": ["named"]}
    template = ec2.create_launch_template(LaunchTemplateName="by-name", LaunchTemplateData=data)["LaunchTemplate"]
    answer = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [subnet], count=1)
    assert answer.get("Instances", []) == []
    assert [e["ErrorCode"] for e in answer["Errors"]] == ["InvalidParameterCombination"]
    assert _running(ec2) == []


def test_group_names_in_the_default_vpc_still_work(moto):
    ec2 = moto.client("ec2")
    ec2.create_security_group(GroupName="dflt", Description="d")
    subnet = _subnets(ec2)[0][0]
    ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroups=["dflt"])
    assert len(_running(ec2)) == 1


def test_group_ids_of_another_vpc_than_the_subnet_are_refused(moto):
    ec2 = moto.client("ec2")
    vpc, (subnet, _other) = moto.custom_vpc()
    in_vpc = ec2.create_security_group(GroupName="in", Description="d", VpcId=vpc)["GroupId"]
    in_default = ec2.create_security_group(GroupName="out", Description="d")["GroupId"]
    with pytest.raises(ClientError) as error:
        ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[in_default])
    assert error.value.response["Error"]["Code"] == "InvalidParameter"
    assert "different networks" in error.value.response["Error"]["Message"]
    wrong = _interface_template(ec2, "wrong", [in_default])
    answer = _fleet(ec2, wrong["LaunchTemplateId"], ["m5.large"], [subnet], count=1)
    assert [e["ErrorCode"] for e in answer["Errors"]] == ["InvalidParameter"] and not answer.get("Instances")
    right = _interface_template(ec2, "right", [in_vpc], public_ip=False)
    answer = _fleet(ec2, right["LaunchTemplateId"], ["m5.large"], [subnet], count=1)
    assert not answer.get("Errors")
    (instance,) = _running(ec2)
    assert instance["SubnetId"] == subnet and instance["VpcId"] == vpc
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [in_vpc], "groups of the template's interface"


def test_a_template_with_interfaces_takes_no_instance_level_groups(moto):
    ec2 = moto.client("ec2")
    group = ec2.create_security_group(GroupName="both", Description="d")["GroupId"]
    template = _interface_template(ec2, "both", [group], SecurityGroupIds=[group])
    answer = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [_subnets(ec2)[0][0]], count=1)
    assert [e["ErrorCode"] for e in answer["Errors"]] == ["InvalidParameterCombination"]
    assert _running(ec2) == []


def test_a_region_whose_default_vpc_was_deleted(moto):
    ec2 = moto.client("ec2")
    moto.delete_default_vpc()
    assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"] == []
    with pytest.raises(ClientError) as error:
        ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)
    assert error.value.response["Error"]["Code"] == "VPCIdNotSpecified"
    vpc, (subnet, _other) = moto.custom_vpc()
    ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)
    assert [i["VpcId"] for i in _running(ec2)] == [vpc]
    moto.reset()
    assert len(ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]) == 1


def test_fleet_instances_get_a_public_address_as_the_template_interface_says(moto):
    ec2 = moto.client("ec2")
    vpc, (subnet, _other) = moto.custom_vpc()
    group = ec2.create_security_group(GroupName="pub", Description="d", VpcId=vpc)["GroupId"]
    for name, public_ip in (("public", True), ("private", False)):
        template = _interface_template(ec2, name, [group], public_ip=public_ip)
        _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [subnet], count=1)
    by_public = {bool(i.get("PublicIpAddress")) for i in _running(ec2)}
    assert by_public == {True, False} and len(_running(ec2)) == 2


def _profile_template(ec2, profile):
    data = {"ImageId": AMI, "IamInstanceProfile": {"Name": profile}}
    return ec2.create_launch_template(LaunchTemplateName=f"lt-{profile}", LaunchTemplateData=data)["LaunchTemplate"]


def _subnet(ec2):
    return ec2.describe_subnets()["Subnets"][0]["SubnetId"]


def test_fleet_with_an_unknown_instance_profile_launches_nothing_as_aws(moto):
    ec2 = moto.client("ec2")
    template = _profile_template(ec2, "nobody")
    answer = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [_subnet(ec2)], count=1)
    assert answer.get("Instances", []) == []
    assert [e["ErrorCode"] for e in answer["Errors"]] == ["InvalidParameterValue"]
    assert "Invalid IAM Instance Profile name" in answer["Errors"][0]["ErrorMessage"]
    assert "nobody" in answer["Errors"][0]["ErrorMessage"]


def test_a_young_instance_profile_is_refused_until_it_has_propagated(moto):
    iam, ec2 = moto.client("iam"), moto.client("ec2")
    moto.delay_profiles(0.5, at_least=1)
    iam.create_instance_profile(InstanceProfileName="fresh")
    template = _profile_template(ec2, "fresh")
    first = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [_subnet(ec2)], count=1)
    assert first.get("Instances", []) == [] and first["Errors"][0]["ErrorCode"] == "InvalidParameterValue"
    time.sleep(0.6)
    later = _fleet(ec2, template["LaunchTemplateId"], ["m5.large"], [_subnet(ec2)], count=1)
    assert sum(len(i["InstanceIds"]) for i in later["Instances"]) == 1
    assert moto.strict.profile_refusals == 1


# --- spot price history ------------------------------------------------------------------------------------


def _latest(ec2, **args):
    return ec2.describe_spot_price_history(StartTime=datetime.datetime.now(datetime.UTC), **args)["SpotPriceHistory"]


def test_spot_price_history_is_what_the_test_set_and_honours_the_filters(moto):
    moto.set_spot_prices({("m5.large", "us-east-1a"): "0.0350", ("m5.large", "us-east-1b"): "0.0410"})
    moto.set_spot_prices({("c5.large", "us-east-1a"): "0.0300"})
    ec2 = moto.client("ec2")
    found = _latest(ec2, InstanceTypes=["m5.large"], ProductDescriptions=["Linux/UNIX"])
    assert sorted((p["AvailabilityZone"], p["SpotPrice"]) for p in found) == [
        ("us-east-1a", "0.0350"),
        ("us-east-1b", "0.0410"),
    ]
    assert {p["ProductDescription"] for p in found} == {"Linux/UNIX"}
    in_a = _latest(ec2, AvailabilityZone="us-east-1a")
    assert sorted(p["InstanceType"] for p in in_a) == ["c5.large", "m5.large"]
    by_filter = _latest(ec2, Filters=[{"Name": "availability-zone", "Values": ["us-east-1b"]}])
    assert [(p["InstanceType"], p["SpotPrice"]) for p in by_filter] == [("m5.large", "0.0410")]
    assert _latest(ec2, ProductDescriptions=["Windows"]) == []


def test_spot_price_history_with_a_start_time_gives_the_price_effective_then(moto):
    now = datetime.datetime.now(datetime.UTC)
    key = ("m5.large", "us-east-1a")
    moto.set_spot_prices({key: "0.0300"}, at=now - datetime.timedelta(days=2))
    moto.set_spot_prices({key: "0.0320"}, at=now - datetime.timedelta(days=1))
    ec2 = moto.client("ec2")
    # The last change before StartTime is the price effective at StartTime: one entry, the newest.
    assert [p["SpotPrice"] for p in _latest(ec2, InstanceTypes=["m5.large"])] == ["0.0320"]
    # Without StartTime: every change of the last 90 days, newest first.
    every = ec2.describe_spot_price_history(InstanceTypes=["m5.large"])["SpotPriceHistory"]
    assert [p["SpotPrice"] for p in every] == ["0.0320", "0.0300"]
    # A window in the past: the changes in it plus the one effective at its start.
    window = ec2.describe_spot_price_history(
        StartTime=now - datetime.timedelta(hours=36), EndTime=now - datetime.timedelta(hours=30)
    )["SpotPriceHistory"]
    assert [p["SpotPrice"] for p in window] == ["0.0300"]
    # A change set in the future of EndTime is not seen.
    moto.set_spot_prices({key: "0.0900"}, at=now + datetime.timedelta(hours=1))
    assert [p["SpotPrice"] for p in _latest(ec2, InstanceTypes=["m5.large"])] == ["0.0320"]


def test_spot_price_history_paginates(moto):
    moto.set_spot_prices({(f"m5.{size}", zone): "0.1" for size in ("large", "xlarge", "2xlarge") for zone in "ab"})
    ec2 = moto.client("ec2")
    first = ec2.describe_spot_price_history(MaxResults=5)
    assert len(first["SpotPriceHistory"]) == 5 and first["NextToken"]
    second = ec2.describe_spot_price_history(MaxResults=5, NextToken=first["NextToken"])
    assert len(second["SpotPriceHistory"]) == 1 and not second.get("NextToken")
    pages = ec2.get_paginator("describe_spot_price_history").paginate(PaginationConfig={"PageSize": 5})
    assert sum(len(page["SpotPriceHistory"]) for page in pages) == 6
    with pytest.raises(ClientError, match="MaxResults"):
        ec2.describe_spot_price_history(MaxResults=2000)


def test_no_price_set_means_no_entry_and_reset_forgets_prices(moto):
    ec2 = moto.client("ec2")
    assert _latest(ec2) == []
    moto.set_spot_prices({("m5.large", "us-east-1a"): "0.0350"})
    moto.reset()
    assert _latest(ec2) == []
