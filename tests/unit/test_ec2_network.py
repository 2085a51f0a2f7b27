"""disco_ec2_network_info's logic against the stand-in: the cluster's VPC, its subnets and its group ids."""

from __future__ import annotations

import pytest
from ansible_collections.disposable.disco.plugins.modules import disco_ec2_network_info as net


def test_default_vpc_and_its_subnets_one_per_zone(moto):
    ec2 = moto.client("ec2")
    found = net.network(ec2, [], [])
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    assert found["vpc_id"] == default and found["default_vpc"] is True
    zones = [found["zones"][s] for s in found["subnet_ids"]]
    assert zones == sorted(set(zones)) and len(zones) >= 2


def test_given_subnets_keep_their_order_and_name_their_vpc(moto):
    vpc, subnets = moto.custom_vpc()
    found = net.network(moto.client("ec2"), list(reversed(subnets)), [])
    assert found == {**found, "vpc_id": vpc, "default_vpc": False, "subnet_ids": list(reversed(subnets))}


def test_subnets_of_two_vpcs_unknown_subnets_and_no_default_vpc_are_refused(moto):
    ec2 = moto.client("ec2")
    _a, (sub_a, _sub_a2) = moto.custom_vpc("10.30.0.0/16")
    _b, (sub_b, _sub_b2) = moto.custom_vpc("10.40.0.0/16")
    with pytest.raises(net.NetworkError, match=r"^disco_subnet_ids: the subnets are in 2 VPCs"):
        net.network(ec2, [sub_a, sub_b], [])
    with pytest.raises(net.NetworkError, match=r"^disco_subnet_ids: .*subnet-0123456789abcdef0"):
        net.network(ec2, ["subnet-0123456789abcdef0"], [])
    moto.delete_default_vpc()
    with pytest.raises(net.NetworkError, match=r"no default VPC .* set disco_subnet_ids"):
        net.network(ec2, [], [])
    assert net.network(ec2, [sub_a], [])["subnet_ids"] == [sub_a]


def test_group_names_and_ids_resolve_in_the_cluster_vpc_only(moto):
    ec2 = moto.client("ec2")
    vpc, subnets = moto.custom_vpc()
    named = ec2.create_security_group(GroupName="office", Description="d", VpcId=vpc)["GroupId"]
    other = ec2.create_security_group(GroupName="extra", Description="d", VpcId=vpc)["GroupId"]
    elsewhere = ec2.create_security_group(GroupName="office", Description="d")["GroupId"]  # same name, default VPC
    found = net.network(ec2, subnets, ["office", other, "office"])
    assert found["security_group_ids"] == [named, other]
    assert net.network(ec2, [], ["office"])["security_group_ids"] == [elsewhere]
    with pytest.raises(net.NetworkError, match=rf"^disco_security_groups: no security group nope, {elsewhere} in"):
        net.network(ec2, subnets, ["office", "nope", elsewhere])
