"""The minimal IAM policy of docs/aws-policy.json against the calls the playbooks really make.

launch.yml, status.yml and teardown.yml run against the stand-in, which records every call with its service
(``ec2:CreateFleet``, ``iam:...``): every recorded action must be allowed by the policy, and every action of the
policy must have been seen or be in :data:`NOT_SEEN` with the reason it is needed all the same.

To extend (the IAM instance profile adds IAM actions): add the actions to docs/aws-policy.json, a flow that makes
them to :func:`test_every_call_the_playbooks_make_is_allowed_and_the_policy_holds_nothing_else`, or an entry to
:data:`NOT_SEEN` when no call of the stand-in shows them.
"""

from __future__ import annotations

import fnmatch
import json

import pytest
from ec2lab import AMI, REPO, TAG_KEY, base_config
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from support.motoserver import REGION

POLICY = REPO / "docs" / "aws-policy.json"

# Actions the policy must allow although no recorded call names them: AWS checks them on the caller's behalf.
NOT_SEEN: dict[str, str] = {
    "ec2:RunInstances": "CreateFleet launches through RunInstances and needs the caller to be allowed it "
    "(AWS: EC2 Fleet prerequisites); the stand-in records only CreateFleet",
    "iam:CreateServiceLinkedRole": "EC2 creates the spot service-linked role AWSServiceRoleForEC2Spot on an "
    "account's first spot launch, as the caller; once it exists the permission is unused",
}


# Calls no policy needs to allow.
ALWAYS_ALLOWED: dict[str, str] = {
    "sts:GetCallerIdentity": "AWS: no permissions are required to perform this operation (amazon.aws modules ask "
    "it for the account id)",
}


def policy_actions() -> list[str]:
    document = json.loads(POLICY.read_text())
    actions: list[str] = []
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow", "the policy only allows"
        listed = statement["Action"]
        actions.extend([listed] if isinstance(listed, str) else listed)
    return actions


def allowed(action: str, actions: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in actions)


def test_the_policy_is_a_valid_document_without_wildcards():
    document = json.loads(POLICY.read_text())
    assert document["Version"] == "2012-10-17"
    actions = policy_actions()
    assert actions and len(actions) == len(set(actions))
    assert all("*" not in action for action in actions), "name every action"
    assert set(NOT_SEEN) <= set(actions)


def _legacy_open_request(lab, cluster: str) -> None:
    """An open spot request of a version before 0.2, which the launch must cancel."""
    tags = [
        {"Key": TAG_KEY, "Value": cluster},
        {"Key": "disco-role", "Value": "slave"},
        {"Key": "disco-group", "Value": "default"},
    ]
    legacy = lab.ec2().request_spot_instances(
        InstanceCount=1,
        LaunchSpecification={"ImageId": AMI, "InstanceType": "m5.large"},
        TagSpecifications=[{"ResourceType": "spot-instances-request", "Tags": tags}],
    )["SpotInstanceRequests"][0]
    held = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].spot_instance_requests[legacy["SpotInstanceRequestId"]]
    held.instance.terminate()
    held.state, held._status_code = "open", "capacity-not-available"


@pytest.mark.slow
def test_every_call_the_playbooks_make_is_allowed_and_the_policy_holds_nothing_else(lab):
    _vpc, subnets = lab.moto.custom_vpc()
    lab.config = {
        **base_config("policy"),
        "disco_ami": "debian-12",  # the image lookup (DescribeImages, DescribeInstanceTypes)
        "disco_num_slaves": 2,
        "disco_subnet_ids": subnets,
        "disco_ssh_via_master": True,  # the jump host tag on the slaves (CreateTags)
    }
    seen: list[str] = []
    runs = [lab.launch().ok()]
    seen += lab.moto.api_calls()
    _legacy_open_request(lab, "policy")
    runs.append(lab.launch(disco_num_slaves=1).ok())  # scale down (TerminateInstances), cancel the request
    seen += lab.moto.api_calls()
    runs.append(lab.playbook("playbooks/status.yml").ok())
    seen += lab.moto.api_calls()
    runs.append(lab.teardown().ok())
    seen += lab.moto.api_calls()
    assert lab.instances("policy") == []

    actions = policy_actions()
    refused = sorted({call for call in seen if not allowed(call, actions) and call not in ALWAYS_ALLOWED})
    assert refused == [], f"calls the policy does not allow: {refused}"
    unused = sorted(set(actions) - set(seen) - set(NOT_SEEN))
    assert unused == [], f"actions of the policy no run made (remove them, or say why in NOT_SEEN): {unused}"
    assert not set(NOT_SEEN) & set(seen), "an action of NOT_SEEN was seen: drop it from NOT_SEEN"
