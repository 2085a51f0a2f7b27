"""Provisioning scenario against moto: launch, re-run, scale, repair, inventory, teardown — in this order.

Every step is the real ``ansible-playbook playbooks/launch.yml --tags provision`` (or teardown.yml) run against
moto's EC2 API; the steps share one moto state (module-scoped ``module_lab``), so they must run in file order.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap
from pathlib import Path

import pytest
from ec2lab import AMI, REPO, TAG_KEY, by_role, tags_of
from ec2lab import base_config as _base_config
from support.motoserver import FAKE_SECRET_KEY

pytestmark = pytest.mark.slow

NAME = "alpha"
OTHER = "other"


def base_config():
    return {**_base_config(NAME), "disco_num_slaves": 3, "disco_ssh_via_master": True}


@pytest.fixture(scope="module")
def lab(module_lab):
    module_lab.config = base_config()
    return module_lab


@pytest.fixture(scope="module")
def seen():
    """Facts remembered from one step to the next."""
    return {}


def slave_ids(lab, group=None):
    return {i["InstanceId"] for i in by_role(lab.instances(NAME), "slave", group)}


def test_fresh_launch_creates_master_slaves_group_and_tags(lab, seen):
    run = lab.launch("-vvv").ok()
    assert FAKE_SECRET_KEY not in run.output
    instances = lab.instances(NAME)
    masters, slaves = by_role(instances, "master"), by_role(instances, "slave", "default")
    assert len(masters) == 1 and len(slaves) == 3 and len(instances) == 4
    for instance in instances:
        tags = tags_of(instance)
        assert tags[TAG_KEY] == NAME
        assert instance["KeyName"] == "disco-test"
        assert instance["ImageId"] == AMI
        assert instance["InstanceType"] == "m5.large"
        assert [g["GroupName"] for g in instance["SecurityGroups"]] == [f"{TAG_KEY}-{NAME}"]
    master = masters[0]
    assert tags_of(master)["Name"] == f"{NAME}-master" and tags_of(master)["disco-group"] == "master"
    # ssh_via_master: slaves carry the master's address for the inventory file's ProxyJump
    assert {tags_of(s)["disco-jump-host"] for s in slaves} == {master["PublicIpAddress"]}

    assert all(instance.get("InstanceLifecycle") == "spot" for instance in instances), "every node is spot"
    volumes = lab.ec2().describe_volumes(Filters=[{"Name": f"tag:{TAG_KEY}", "Values": [NAME]}])["Volumes"]
    assert len(volumes) == 4, "every volume carries the cluster's tag from creation"
    templates = lab.launch_templates(NAME)
    assert sorted(tags_of(t)["disco-group"] for t in templates) == ["default", "master"]
    assert lab.open_requests() == [] and lab.requests(NAME) == []
    assert run.calls.count("CreateLaunchTemplate") == 2 and run.calls.count("CreateFleet") == 2  # one per group
    assert "RequestSpotInstances" not in run.calls and "RunInstances" not in run.calls
    assert run.calls.count("CreateTags") == 1  # only the jump host on the slaves: the rest was tagged at birth
    # No disco_subnet_ids: the fleet is offered the default VPC's subnets, one per zone, and says where it went.
    assert re.search(r"slave/default: asked 3, got 3: 3 x m5\.large in us-east-1[a-f] \(spot\)", run.output)
    user_data = lab.ec2().describe_instance_attribute(InstanceId=slaves[0]["InstanceId"], Attribute="userData")
    text = base64.b64decode(user_data["UserData"]["Value"]).decode()
    assert text.startswith("#cloud-config") and "role=slave" in text and FAKE_SECRET_KEY not in text

    group = lab.ec2().describe_security_groups(GroupNames=[f"{TAG_KEY}-{NAME}"])["SecurityGroups"][0]
    assert tags_of(group)[TAG_KEY] == NAME and tags_of(group)["disco-created-by"] == "disposable.disco"
    ingress = group["IpPermissions"]
    ssh = [p for p in ingress if p.get("FromPort") == 22]
    internal = [p for p in ingress if p["IpProtocol"] == "-1"]
    assert [r["CidrIp"] for p in ssh for r in p["IpRanges"]] == ["198.51.100.0/24"]
    assert [g["GroupId"] for p in internal for g in p["UserIdGroupPairs"]] == [group["GroupId"]]
    assert not any(r["CidrIp"] == "0.0.0.0/0" for p in ingress for r in p["IpRanges"])

    assert f"ssh -N -L 8989:127.0.0.1:8999 admin@{master['PublicIpAddress']}" in run.output
    assert "export DISCO_PROXY=http://localhost:8989 DISCO_MASTER=http://localhost:8989" in run.output
    seen["first_slaves"] = {s["InstanceId"] for s in slaves}


def test_rerun_changes_nothing_and_makes_no_mutating_call(lab):
    run = lab.launch().ok()
    assert run.changed == 0, run.output
    assert run.mutating_calls == [], run.calls
    assert len(run.calls) <= 20
    assert "EC2 already matches the configuration" in run.output


def test_check_mode_prints_the_plan_and_changes_nothing(lab):
    before = {i["InstanceId"] for i in lab.instances(NAME)}
    run = lab.launch("--check", disco_num_slaves=5).ok()
    assert "Would change cluster alpha" in run.output
    assert "launch 2 x spot m5.large for slave/default, max price 0.05" in run.output
    assert run.mutating_calls == [], run.calls
    assert {i["InstanceId"] for i in lab.instances(NAME)} == before


def test_scale_up_requests_only_the_deficit_and_groups_are_independent(lab, seen):
    lab.config.pop("disco_num_slaves")
    lab.config["disco_slave_groups"] = [
        {"name": "default", "count": 5},
        {"name": "big", "count": 2, "instance_type": "c5.xlarge", "max_price": "0.2"},
    ]
    run = lab.launch().ok()
    assert run.calls.count("CreateFleet") == 2  # one per group short of nodes
    assert run.calls.count("CreateLaunchTemplate") == 1  # the new group's; default's is reused
    assert "TerminateInstances" not in run.calls and "CancelSpotInstanceRequests" not in run.calls
    slaves = slave_ids(lab, "default")
    assert len(slaves) == 5 and seen["first_slaves"] <= slaves
    big = by_role(lab.instances(NAME), "slave", "big")
    assert len(big) == 2 and {i["InstanceType"] for i in big} == {"c5.xlarge"}
    assert {i.get("InstanceLifecycle") for i in big} == {"spot"}
    seen["added_slaves"] = slaves - seen["first_slaves"]


def test_scale_down_terminates_the_newest_slaves_and_cancels_their_requests(lab, seen):
    big_before = slave_ids(lab, "big")
    lab.config["disco_slave_groups"][0]["count"] = 2
    lab.config["disco_slave_groups"][1]["count"] = 1
    run = lab.launch().ok()
    assert "CreateFleet" not in run.calls
    assert run.calls.count("TerminateInstances") == 1 and "CancelSpotInstanceRequests" not in run.calls
    survivors = slave_ids(lab, "default")
    assert len(survivors) == 2
    assert not seen["added_slaves"] & survivors, "the newest slaves go first"
    assert survivors <= seen["first_slaves"]
    assert len(slave_ids(lab, "big")) == 1 and slave_ids(lab, "big") <= big_before
    assert len(by_role(lab.instances(NAME), "master")) == 1


def test_killed_nodes_are_replaced_and_legacy_open_requests_cancelled(lab):
    """The master and one slave of each group are terminated behind the tool's back, and an open spot request
    of a version before 0.2 is left: the next run starts a new master and slaves and cancels the request."""
    default, big = sorted(slave_ids(lab, "default")), sorted(slave_ids(lab, "big"))
    (master,) = by_role(lab.instances(NAME), "master")
    lab.ec2().terminate_instances(InstanceIds=[master["InstanceId"], default[0], *big])
    held = lab.legacy_open_request(NAME)

    status = lab.playbook("playbooks/status.yml").ok()
    assert status.mutating_calls == []
    assert held.id in status.output and "capacity-not-available" in status.output
    assert "launch 1 x spot m5.large for master" in status.output
    assert "launch 1 x spot m5.large for slave/default" in status.output

    run = lab.launch().ok()
    assert run.calls.count("CancelSpotInstanceRequests") == 1  # the legacy request
    assert run.calls.count("CreateFleet") == 3  # master, default: 1, big: 1
    assert lab.open_requests() == []
    (new_master,) = by_role(lab.instances(NAME), "master")
    assert new_master["InstanceId"] != master["InstanceId"]
    now = slave_ids(lab, "default")
    assert len(now) == 2 and default[0] not in now
    assert len(slave_ids(lab, "big")) == 1 and not slave_ids(lab, "big") & set(big)
    slaves = by_role(lab.instances(NAME), "slave")
    assert {tags_of(s)["disco-jump-host"] for s in slaves} == {new_master["PublicIpAddress"]}, "jump host follows"


def test_inventory_file_gives_the_groups_and_hostvars_that_launch_adds(lab):
    dump = lab.workdir / "hosts.json"
    wrapper = lab.workdir / "launch_and_dump.yml"
    wrapper.write_text(
        textwrap.dedent(
            f"""\
            - name: Launch
              ansible.builtin.import_playbook: {REPO / "playbooks" / "launch.yml"}
            - name: Dump the in-memory inventory
              hosts: localhost
              gather_facts: false
              tags: [provision]
              tasks:
                - name: Write the groups and host variables
                  ansible.builtin.copy:
                    dest: {dump}
                    mode: "0600"
                    content: >-
                      {{{{ {{'master': groups['disco_master'], 'slaves': groups['disco_slaves'] | sort,
                            'hostvars': dict((groups['disco_master'] + groups['disco_slaves'])
                              | zip((groups['disco_master'] + groups['disco_slaves'])
                              | map('extract', hostvars) | map('dict2items')
                              | map('selectattr', 'key', 'in', {KEYS!r}) | map('items2dict')))}} | to_json }}}}
            """
        )
    )
    path = lab.workdir / "config.json"
    path.write_text(json.dumps(lab.config))
    # add_host runs when the configure phase follows; with --tags provision only when asked.
    command = [
        "ansible-playbook",
        str(wrapper),
        "-e",
        f"@{path}",
        "-e",
        "disco_ec2_add_hosts=true",
        "-e",
        "disco_ec2_wait_for_ssh=false",  # moto's addresses answer nothing: the inventory alone is tested
        "--tags",
        "provision",
    ]
    run = lab.command(command).ok()
    assert run.changed == 1, run.output  # the dump file only: the repaired cluster needs nothing more
    assert run.mutating_calls == [], run.calls
    memory = json.loads(dump.read_text())

    env = {
        **lab.env,
        "DISCO_CLUSTER_NAME": NAME,
        "DISCO_TAG_KEY": TAG_KEY,
        "DISCO_SSH_VIA_MASTER": "true",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
    }
    run = lab.command(["ansible-inventory", "-i", "inventory/aws_ec2.yml", "--list"], env=env).ok()
    inventory = json.loads(run.stdout)
    assert inventory["disco_master"]["hosts"] == memory["master"]
    assert sorted(inventory["disco_slaves"]["hosts"]) == memory["slaves"]
    assert len(memory["slaves"]) == 3 and len(memory["master"]) == 1
    for host, expected in memory["hostvars"].items():
        actual = {key: inventory["_meta"]["hostvars"][host].get(key) for key in expected}
        assert _plain(actual) == expected, host
    master = memory["hostvars"][memory["master"][0]]
    slave = memory["hostvars"][memory["slaves"][0]]
    assert master["ansible_host"] == master["public_ip_address"]
    assert slave["ansible_host"] == slave["private_ip_address"]
    known = f"{Path.home()}/.cache/disposable-disco/clusters/{NAME}/known_hosts"
    keys = f"-o StrictHostKeyChecking=accept-new -o HashKnownHosts=no -o UserKnownHostsFile={known}"
    master_id, slave_id = memory["master"][0], memory["slaves"][0]
    assert master["ansible_ssh_common_args"] == f"-o HostKeyAlias={master_id} {keys}"
    assert slave["ansible_ssh_common_args"] == (
        f"-o HostKeyAlias={slave_id} {keys} -o ProxyCommand="
        f'"ssh -o HostKeyAlias={master_id} {keys} -o BatchMode=yes -W %h:%p admin@{master["public_ip_address"]}"'
    )
    assert run.mutating_calls == []

    # Another cluster's nodes and untagged ones stay out.
    lab.ec2().run_instances(ImageId=AMI, MinCount=1, MaxCount=1)
    run = lab.command(
        ["ansible-inventory", "-i", "inventory/aws_ec2.yml", "--list"], env={**env, "DISCO_CLUSTER_NAME": OTHER}
    )
    assert "disco_master" not in json.loads(run.stdout)


def test_teardown_removes_only_the_cluster(lab):
    ec2 = lab.ec2()
    bystander = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [{"Key": TAG_KEY, "Value": OTHER}, {"Key": "disco-role", "Value": "slave"}]
    other = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    other_request = ec2.request_spot_instances(
        InstanceCount=1,
        LaunchSpecification={"ImageId": AMI, "InstanceType": "t3.micro"},
        TagSpecifications=[{"ResourceType": "spot-instances-request", "Tags": tags}],
    )["SpotInstanceRequests"][0]["SpotInstanceRequestId"]
    ec2.create_security_group(GroupName="unrelated", Description="not ours")

    assert lab.launch_templates(NAME)
    run = lab.teardown("-v").ok()
    assert FAKE_SECRET_KEY not in run.output
    assert lab.instances(NAME) == []
    assert lab.launch_templates(NAME) == [] and lab.open_requests(exclude=[other_request]) == []
    assert [r for r in lab.requests(NAME) if r["State"] in ("open", "active")] == []
    groups = {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert f"{TAG_KEY}-{NAME}" not in groups and "unrelated" in groups
    alive = {i["InstanceId"] for i in lab.instances()}
    assert {bystander, other} <= alive
    assert other_request in {r["SpotInstanceRequestId"] for r in lab.requests(OTHER)}

    again = lab.teardown().ok()
    assert again.changed == 0, again.output
    assert again.mutating_calls == [], again.calls
    assert "nothing of it left in EC2" in again.output


KEYS = [
    "ansible_host",
    "ansible_user",
    "ansible_ssh_common_args",
    "disco_cluster_name",
    "disco_role",
    "disco_group",
    "instance_id",
    "instance_type",
    "private_ip_address",
    "public_ip_address",
    "private_dns_name",
    "public_dns_name",
]


def _plain(value):
    """ansible-inventory --list marks strings as unsafe: {"__ansible_unsafe": "..."}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
