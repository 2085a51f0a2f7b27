"""The minimal IAM policy of docs/aws-policy.json against the calls the playbooks really make.

launch.yml, status.yml and teardown.yml run against the stand-in, which records every call with its service
(``ec2:CreateFleet``, ``iam:...``), its parameters and the actions AWS authorises along with it (``iam:PassRole``
of a launch with an instance profile, ``iam:TagRole`` of a role created with tags): every recorded action must be
allowed by a statement of the policy, on the role or instance profile the call names where the statement names its
resources, under the statement's conditions; and every action of the policy must have been seen or be in
:data:`NOT_SEEN` with the reason it is needed all the same. The flows: a launch in a custom VPC, a scaled-down
launch, status and teardown; a launch, re-run and teardown with ``disco_instance_profile: create``; a launch and
teardown with an existing instance profile, against the policy without the statements only ``create`` needs plus
docs/aws-policy-existing-profile.json.

To extend: add the actions to docs/aws-policy.json, a flow that makes them to
:func:`test_every_call_the_playbooks_make_is_allowed_and_the_policy_holds_nothing_else`, or an entry to
:data:`NOT_SEEN` when no call of the stand-in shows them.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from ec2lab import REPO, TAG_KEY, base_config
from moto.core import DEFAULT_ACCOUNT_ID
from support.motoserver import ApiCall

POLICY = REPO / "docs" / "aws-policy.json"
EXISTING_PROFILE_POLICY = REPO / "docs" / "aws-policy-existing-profile.json"
# The statements of POLICY that only disco_instance_profile: create needs.
CREATE_ONLY = frozenset({"CreatedClusterRole", "CreatedClusterInstanceProfile", "PassCreatedClusterRoleToEC2"})

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

# IAM actions whose resource is the instance profile (InstanceProfileName) rather than the role (RoleName), in the
# Service Authorization Reference: AddRoleToInstanceProfile and RemoveRoleFromInstanceProfile name both and are
# authorised on the profile (AddRoleToInstanceProfile implies iam:PassRole on the role, recorded by the stand-in).
PROFILE_RESOURCE = frozenset(
    {
        "AddRoleToInstanceProfile",
        "CreateInstanceProfile",
        "DeleteInstanceProfile",
        "GetInstanceProfile",
        "RemoveRoleFromInstanceProfile",
        "TagInstanceProfile",
    }
)


def statements(path=POLICY) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow", "the policy only allows"
    return list(document["Statement"])


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def policy_actions(found: list[dict[str, Any]] | None = None) -> list[str]:
    """The actions of ``found`` (default: the statements of POLICY), in order."""
    return [
        action for statement in (statements() if found is None else found) for action in _listed(statement["Action"])
    ]


def resource_of(call: ApiCall) -> str | None:
    """The ARN IAM authorises ``call`` on, for IAM calls naming a role or an instance profile (path ``/``)."""
    service, action = call.action.split(":", 1)
    if service != "iam":
        return None
    kind, key = ("instance-profile", "InstanceProfileName") if action in PROFILE_RESOURCE else ("role", "RoleName")
    name = call.params.get(key)
    return f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:{kind}/{name}" if name else None


def allows(statement: dict[str, Any], call: ApiCall) -> bool:
    """Whether ``statement`` allows ``call``: its action (case-insensitive), its resource where the statement
    names resources (a call whose resource is unknown matches only ``*``), and its StringEquals conditions."""
    if not any(fnmatch.fnmatchcase(call.action.lower(), a.lower()) for a in _listed(statement["Action"])):
        return False
    resources = _listed(statement["Resource"])
    if resources != ["*"]:
        arn = resource_of(call)
        if arn is None or not any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources):
            return False
    for operator, keys in statement.get("Condition", {}).items():
        assert operator == "StringEquals", f"the test evaluates StringEquals only, not {operator}"
        if any(call.context.get(key) not in _listed(value) for key, value in keys.items()):
            return False
    return True


def refused(calls: list[ApiCall], policy: list[dict[str, Any]]) -> list[str]:
    """The calls no statement of ``policy`` allows, as ``action on resource``."""
    return sorted(
        {
            f"{call.action} on {resource_of(call) or '*'}{' ' + str(call.context) if call.context else ''}"
            for call in calls
            if call.action not in ALWAYS_ALLOWED and not any(allows(statement, call) for statement in policy)
        }
    )


def test_the_policy_is_a_valid_document_without_wildcards():
    actions = policy_actions()
    assert actions and len(actions) == len(set(actions))
    assert all("*" not in action for action in actions), "name every action"
    assert set(NOT_SEEN) <= set(actions)
    assert {statement["Sid"] for statement in statements()} >= CREATE_ONLY
    extra = policy_actions(statements(EXISTING_PROFILE_POLICY))
    assert sorted(extra) == ["iam:GetInstanceProfile", "iam:PassRole"]


def test_the_iam_statements_are_scoped_to_the_cluster_roles_and_profiles():
    """The evaluation itself: the created names pass, any other role or profile, or a pass to another service,
    does not."""
    policy = statements()
    ours, theirs = f"{TAG_KEY}-c1", "someone-else"
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    to_lambda = {"iam:PassedToService": "lambda.amazonaws.com"}
    assert (
        refused(
            [ApiCall("iam:CreateRole", {"RoleName": ours}), ApiCall("iam:PassRole", {"RoleName": ours}, to_ec2)], policy
        )
        == []
    )
    assert (
        refused([ApiCall("iam:AddRoleToInstanceProfile", {"InstanceProfileName": ours, "RoleName": theirs})], policy)
        == []
    )
    assert refused(
        [
            ApiCall("iam:DeleteRole", {"RoleName": theirs}),
            ApiCall("iam:DeleteInstanceProfile", {"InstanceProfileName": theirs}),
            ApiCall("iam:PassRole", {"RoleName": theirs}, to_ec2),
            ApiCall("iam:PassRole", {"RoleName": ours}, to_lambda),
            ApiCall("iam:GetRole", {}),
        ],
        policy,
    ) == [
        f"iam:DeleteInstanceProfile on arn:aws:iam::{DEFAULT_ACCOUNT_ID}:instance-profile/{theirs}",
        f"iam:DeleteRole on arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{theirs}",
        "iam:GetRole on *",
        f"iam:PassRole on arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{ours} {to_lambda}",
        f"iam:PassRole on arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{theirs} {to_ec2}",
    ]


@pytest.mark.slow
def test_every_call_the_playbooks_make_is_allowed_and_the_policy_holds_nothing_else(lab):
    seen: list[ApiCall] = []
    # 1. A custom VPC with two subnets, a Debian release as AMI, scaling down with a legacy request, status, teardown.
    _vpc, subnets = lab.moto.custom_vpc()
    lab.config = {
        **base_config("policy"),
        "disco_ami": "debian-12",  # the image lookup (DescribeImages, DescribeInstanceTypes)
        "disco_num_slaves": 2,
        "disco_subnet_ids": subnets,
        "disco_ssh_via_master": True,  # the jump host tag on the slaves (CreateTags)
    }
    lab.launch().ok()
    seen += lab.moto.api_requests()
    lab.legacy_open_request("policy")
    lab.launch(disco_num_slaves=1).ok()  # scale down (TerminateInstances), cancel the request
    seen += lab.moto.api_requests()
    lab.playbook("playbooks/status.yml").ok()
    seen += lab.moto.api_requests()
    lab.teardown().ok()
    seen += lab.moto.api_requests()
    assert lab.instances("policy") == []

    # 2. disco_instance_profile: create with buckets: launch, re-run (reads the inline policy back), teardown.
    lab.config = {
        **base_config("policyc"),
        "disco_num_slaves": 1,
        "disco_instance_profile": "create",
        "disco_s3_buckets": ["disco-results"],
        "disco_s3_read_buckets": ["disco-inputs"],
    }
    created: list[ApiCall] = []
    for run in (lab.launch, lab.launch, lab.teardown):
        run().ok()
        created += lab.moto.api_requests()
    assert lab.instances("policyc") == []
    assert not lab.moto.client("iam").list_roles()["Roles"], "teardown removed the created role"
    iam_calls = [call for call in created if call.action.startswith("iam:")]
    assert {"iam:CreateRole", "iam:PassRole", "iam:DeleteRole", "iam:GetRolePolicy"} <= {c.action for c in iam_calls}
    assert [call.action for call in iam_calls if resource_of(call) is None] == [], "every IAM call names its resource"
    assert {resource_of(call).rsplit("/", 1)[1] for call in iam_calls} == {f"{TAG_KEY}-policyc"}
    seen += created

    policy = statements()
    actions = policy_actions()
    blocked = refused(seen, policy)
    assert blocked == [], f"calls the policy does not allow: {blocked}"
    recorded = {call.action for call in seen}
    unused = sorted(set(actions) - recorded - set(NOT_SEEN))
    assert unused == [], f"actions of the policy no run made (remove them, or say why in NOT_SEEN): {unused}"
    assert not set(NOT_SEEN) & recorded, "an action of NOT_SEEN was seen: drop it from NOT_SEEN"

    # 3. An existing instance profile: the policy without the create statements, plus the documented subset for
    # the user's profile and role; the cluster's statements alone do not allow someone else's profile.
    iam = lab.moto.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="my-nodes-role", AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName="my-nodes")
    iam.add_role_to_instance_profile(InstanceProfileName="my-nodes", RoleName="my-nodes-role")
    lab.config = {**base_config("policye"), "disco_num_slaves": 1, "disco_instance_profile": "my-nodes"}
    existing: list[ApiCall] = []
    for run in (lab.launch, lab.teardown):
        run().ok()
        existing += lab.moto.api_requests()
    assert lab.instances("policye") == []
    subset = json.loads(
        EXISTING_PROFILE_POLICY.read_text().replace("YOUR-PROFILE", "my-nodes").replace("YOUR-ROLE", "my-nodes-role")
    )["Statement"]
    without_create = [statement for statement in policy if statement["Sid"] not in CREATE_ONLY]
    assert refused(existing, without_create + subset) == []
    assert {call.action for call in existing} >= set(policy_actions(subset))
    account = DEFAULT_ACCOUNT_ID
    assert refused(existing, policy) == [
        f"iam:GetInstanceProfile on arn:aws:iam::{account}:instance-profile/my-nodes",
        f"iam:PassRole on arn:aws:iam::{account}:role/my-nodes-role {{'iam:PassedToService': 'ec2.amazonaws.com'}}",
    ]
