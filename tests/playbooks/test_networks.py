"""Networks against the strict stand-in: a custom VPC with two subnets, a region whose default VPC was deleted,
subnets of two VPCs, security groups by name and id, and nodes without a public address.

Every case is the real ``ansible-playbook playbooks/launch.yml --tags provision`` (and teardown.yml) against a
private moto behind the stand-in, which refuses what AWS refuses (group names with a subnet of a non-default VPC,
group ids of another VPC than the subnet, no subnet where there is no default VPC).
"""

from __future__ import annotations

import pytest
from ec2lab import TAG_KEY, base_config, by_role

pytestmark = pytest.mark.slow


def template_data(lab, cluster):
    ec2 = lab.ec2()
    out = []
    for template in lab.launch_templates(cluster):
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
        out.append(versions["LaunchTemplateVersions"][0]["LaunchTemplateData"])
    return out


def cluster_groups(lab, cluster):
    filters = [{"Name": f"tag:{TAG_KEY}", "Values": [cluster]}]
    return lab.ec2().describe_security_groups(Filters=filters)["SecurityGroups"]


def test_custom_vpc_with_two_subnets_gets_its_group_there_and_nodes_in_both_zones(lab):
    vpc, subnets = lab.moto.custom_vpc()
    zones = {s["SubnetId"]: s["AvailabilityZone"] for s in lab.ec2().describe_subnets(SubnetIds=subnets)["Subnets"]}
    lab.moto.refuse_capacity(instance_types=["m5.large"], zones=[zones[subnets[0]]])
    lab.config = {
        **base_config("netvpc"),
        "disco_num_slaves": 3,
        "disco_instance_type": ["m5.large", "c5.large"],
        "disco_subnet_ids": subnets,
    }
    run = lab.launch().ok()
    (group,) = cluster_groups(lab, "netvpc")
    assert group["VpcId"] == vpc, "the created group lives in the cluster's VPC"
    instances = lab.instances("netvpc")
    assert len(instances) == 4
    assert {i["VpcId"] for i in instances} == {vpc}
    assert {i["SubnetId"] for i in instances} <= set(subnets)
    assert all([g["GroupId"] for g in i["SecurityGroups"]] == [group["GroupId"]] for i in instances)
    # Both subnets were offered: m5.large in the first zone was refused (and said so), the rest went elsewhere.
    assert f"skipped m5.large in {zones[subnets[0]]} (spot): InsufficientInstanceCapacity" in run.output
    assert ("m5.large", subnets[0]) not in {(i["InstanceType"], i["SubnetId"]) for i in instances}
    for data in template_data(lab, "netvpc"):
        assert "SecurityGroups" not in data and "SecurityGroupIds" not in data
        (interface,) = data["NetworkInterfaces"]
        assert interface["Groups"] == [group["GroupId"]] and interface["AssociatePublicIpAddress"] is True
        assert "SubnetId" not in interface
    assert all(i.get("PublicIpAddress") for i in instances)

    run = lab.teardown().ok()
    assert "DeleteSecurityGroup" in run.calls
    assert cluster_groups(lab, "netvpc") == [] and lab.instances("netvpc") == []


def test_without_subnets_the_default_vpc_subnets_are_used(lab):
    lab.config = {**base_config("netdflt"), "disco_num_slaves": 1}
    lab.launch().ok()
    default_vpc = lab.ec2().describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    (group,) = cluster_groups(lab, "netdflt")
    assert group["VpcId"] == default_vpc
    assert {i["VpcId"] for i in lab.instances("netdflt")} == {default_vpc}


def test_a_region_without_default_vpc_and_no_subnets_is_a_clear_error_before_any_change(lab):
    lab.moto.delete_default_vpc()
    lab.config = {**base_config("netnovpc"), "disco_num_slaves": 1}
    run = lab.launch()
    assert run.returncode != 0
    assert "this region has no default VPC" in run.output and "set disco_subnet_ids" in run.output
    assert run.mutating_calls == [], run.calls
    assert lab.instances() == []


def test_subnets_of_two_vpcs_are_refused_naming_the_field(lab):
    _vpc_a, (sub_a, _sub_a2) = lab.moto.custom_vpc("10.30.0.0/16")
    _vpc_b, (sub_b, _sub_b2) = lab.moto.custom_vpc("10.40.0.0/16")
    lab.config = {**base_config("nettwo"), "disco_num_slaves": 1, "disco_subnet_ids": [sub_a, sub_b]}
    run = lab.launch()
    assert run.returncode != 0
    assert "disco_subnet_ids: the subnets are in 2 VPCs" in run.output
    assert run.mutating_calls == [], run.calls


def test_group_names_are_resolved_to_ids_in_the_cluster_vpc_and_unknown_names_are_named(lab):
    vpc, subnets = lab.moto.custom_vpc()
    ec2 = lab.ec2()
    mine = ec2.create_security_group(GroupName="office-ssh", Description="d", VpcId=vpc)["GroupId"]
    other = ec2.create_security_group(GroupName="extra", Description="d", VpcId=vpc)["GroupId"]
    ec2.create_security_group(GroupName="only-in-default", Description="d")
    config = {**base_config("netnames"), "disco_num_slaves": 1, "disco_subnet_ids": subnets}

    run = lab.launch(config={**config, "disco_security_groups": ["office-ssh", "only-in-default"]})
    assert run.returncode != 0
    assert "disco_security_groups: no security group only-in-default in the cluster's VPC" in run.output
    assert run.mutating_calls == [], run.calls

    lab.launch(config={**config, "disco_security_groups": ["office-ssh", other]}).ok()
    instances = lab.instances("netnames")
    assert len(instances) == 2
    assert all(sorted(g["GroupId"] for g in i["SecurityGroups"]) == sorted([mine, other]) for i in instances)
    assert cluster_groups(lab, "netnames") == [], "no group is created when groups are named"
    for data in template_data(lab, "netnames"):
        assert data["NetworkInterfaces"][0]["Groups"] == sorted([mine, other])


def test_no_public_ip_with_the_master_as_jump_host_and_with_a_bastion(lab):
    _vpc, subnets = lab.moto.custom_vpc()
    config = {"disco_num_slaves": 2, "disco_subnet_ids": subnets, "disco_public_ip": False}
    lab.launch(config={**base_config("netjump"), **config, "disco_ssh_via_master": True}).ok()
    instances = lab.instances("netjump")
    (master,) = by_role(instances, "master")
    assert master.get("PublicIpAddress"), "the master is the jump host and keeps a public address"
    assert all(not s.get("PublicIpAddress") for s in by_role(instances, "slave"))

    bastion = {**base_config("netbastion"), **config, "disco_ssh_jump_host": "ec2-user@bastion.example.org:2222"}
    run = lab.launch(config=bastion).ok()
    instances = lab.instances("netbastion")
    assert len(instances) == 3 and all(not i.get("PublicIpAddress") for i in instances)
    (master,) = by_role(instances, "master")
    tunnel = f"ssh -J ec2-user@bastion.example.org:2222 -N -L 8989:127.0.0.1:8999 admin@{master['PrivateIpAddress']}"
    assert tunnel in " ".join(run.output.split()), "the status's tunnel goes through the bastion"
