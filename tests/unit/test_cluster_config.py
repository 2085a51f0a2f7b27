"""The configuration rules, called directly (the playbook tier runs them through ansible-playbook)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.disposable.disco.plugins.action.cluster_config import role_options
from ansible_collections.disposable.disco.plugins.filter.legacy_config import to_legacy_config
from ansible_collections.disposable.disco.plugins.plugin_utils.cluster_config import (
    FIELDS,
    LEGACY_TO_NATIVE,
    RENAMED,
    RENAMED_IN_VERSION,
    deprecations,
    find_typos,
    validate,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((REPO / "roles/disco/defaults/main.yml").read_text())
SPECS = yaml.safe_load((REPO / "roles/disco/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
SAMPLE = json.loads((REPO / "examples/config.json").read_text())
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq5Mb4mVxYh0bXH9c1Jm2bT3sQ0VhVQe7l8cQ2R9Xk1 me@laptop"


def check(**given):
    """(cluster, errors) for the given variables."""
    cluster, _credentials, errors = validate(given, DEFAULTS)
    return cluster, errors


def test_defaults_specs_and_rules_name_the_same_settings():
    assert set(DEFAULTS) == set(FIELDS) == set(SPECS)
    for name, spec in SPECS.items():
        assert spec["default"] == DEFAULTS[name], name
        assert spec.get("description"), name
    assert set(LEGACY_TO_NATIVE.values()) <= set(FIELDS)


def test_every_default_has_a_comment():
    lines = (REPO / "roles/disco/defaults/main.yml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("disco_"):
            assert lines[index - 1].startswith("# "), f"no comment above {line}"


def test_the_original_sample_validates_as_is():
    cluster, credentials, errors = validate(SAMPLE, DEFAULTS)
    assert errors == []
    assert cluster["ami"] == "ami-6d3f9704"
    assert cluster["master"] == {
        "instance_type": "c1.medium",
        "instance_types": ["c1.medium"],
        "market": "spot",
        "max_price": "0.04",
        "multiplier": 1,
    }
    assert cluster["slave_groups"] == [
        {
            "name": "default",
            "count": 30,
            "instance_type": "c1.medium",
            "instance_types": ["c1.medium"],
            "max_price": "0.04",
            "multiplier": 1,
        }
    ]
    assert cluster["subnet_ids"] == [] and cluster["capacity_fallback"] == "fail"
    assert cluster["mgmt_keys"] == ["ssh-rsa SNIPPED"]
    assert cluster["security_groups"] == ["disco"]
    assert cluster["tag_key"] == "disposabledisco"
    assert cluster["pip_requirements"] == ["iso8601", "pygeoip"]
    assert cluster["post_init"].startswith('echo "[default]')
    assert credentials == {"access_key": "SNIPPED", "secret_key": "SNIPPED"}


def test_credentials_stay_out_of_the_cluster_fact():
    given = dict(SAMPLE, AWS_ACCESS="AKIAUNIQUE1", AWS_SECRET="s3cr3t-VALUE")
    cluster, credentials, _errors = validate(given, DEFAULTS)
    assert credentials == {"access_key": "AKIAUNIQUE1", "secret_key": "s3cr3t-VALUE"}
    assert "AKIAUNIQUE1" not in json.dumps(cluster)
    assert "s3cr3t-VALUE" not in json.dumps(cluster)


@pytest.mark.parametrize("name", ["config.yml", "slave-groups.yml"])
def test_native_examples_validate(name):
    given = yaml.safe_load((REPO / "examples" / name).read_text())
    errors = validate(given, DEFAULTS)[2]
    assert errors == []


def test_defaults_alone_are_valid_and_launch_the_newest_debian_13():
    cluster, errors = check()
    assert errors == [] and cluster["ami"] == "debian-13"


@pytest.mark.parametrize("value", ["debian-12", "debian-13", "ami-12345678", "ami-0123456789abcdef0"])
def test_ami_is_an_id_or_a_debian_release(value):
    cluster, errors = check(disco_ami=value)
    assert errors == [] and cluster["ami"] == value
    assert check(AMI=value)[0]["ami"] == value


@pytest.mark.parametrize("value", ["debian-11", "Debian-13", "ubuntu-24.04", "ami-xyz"])
def test_other_images_are_refused_naming_the_field(value):
    assert check(disco_ami=value)[1] == [
        f"disco_ami: must be an AMI id such as ami-0123456789abcdef0, or debian-13 or debian-12, got {value!r}"
    ]


def test_master_and_slave_types_fall_back_to_instance_type():
    cluster, _errors = check(disco_ami="ami-12345678", INSTANCE_TYPE="c5.xlarge", SLAVE_INSTANCE_TYPE="c5.2xlarge")
    assert cluster["master"]["instance_type"] == "c5.xlarge"
    assert cluster["slave_groups"][0]["instance_type"] == "c5.2xlarge"


def test_slave_groups_take_defaults_from_the_top_level():
    cluster, errors = check(
        disco_ami="ami-12345678",
        disco_max_price="0.1",
        disco_slave_multiplier=3,
        disco_slave_groups=[{"name": "a", "count": "2"}, {"name": "b", "count": 1, "max_price": 0.5}],
    )
    assert errors == []
    assert cluster["slave_groups"] == [
        {
            "name": "a",
            "count": 2,
            "instance_type": "m5.large",
            "instance_types": ["m5.large"],
            "max_price": "0.1",
            "multiplier": 3,
        },
        {
            "name": "b",
            "count": 1,
            "instance_type": "m5.large",
            "instance_types": ["m5.large"],
            "max_price": "0.5",
            "multiplier": 3,
        },
    ]
    assert cluster["num_slaves"] == 3


def test_counts_given_as_strings_on_the_command_line_are_numbers():
    cluster, errors = check(disco_ami="ami-12345678", NUM_SLAVES="7", MASTER_MULTIPLIER="0")
    assert errors == []
    assert cluster["num_slaves"] == 7
    assert cluster["master"]["multiplier"] == 0


def test_mgmt_keys_as_newline_string_or_list():
    two = KEY + "\n# a comment\n\n" + KEY.replace("me@laptop", "you@desk") + "\n"
    for value in (two, [KEY, KEY.replace("me@laptop", "you@desk")]):
        cluster, errors = check(disco_ami="ami-12345678", MGMT_KEY=value)
        assert errors == []
        assert len(cluster["mgmt_keys"]) == 2


def test_legacy_key_wins_over_a_native_default_but_not_over_a_different_native_value():
    cluster, errors = check(disco_ami="ami-12345678", NUM_SLAVES=5, disco_num_slaves=DEFAULTS["disco_num_slaves"])
    assert errors == [] and cluster["num_slaves"] == 5
    errors = check(disco_ami="ami-12345678", NUM_SLAVES=5, disco_num_slaves=9)[1]
    assert errors == ["NUM_SLAVES: is set and so is disco_num_slaves with another value; keep only one of them"]


def test_every_problem_is_reported_at_once():
    errors = check(AMI="ami-nope", NUM_SLAVES=-1, MAX_BID="free")[1]
    assert [e.split(":")[0] for e in errors] == ["AMI", "MAX_BID", "NUM_SLAVES"]


def test_secrets_are_never_repeated_in_messages():
    secret = "wJalr XUtnFEMI/K7MDENG"  # a space makes it invalid
    errors = check(disco_ami="ami-12345678", AWS_ACCESS="AKIAEXAMPLE", AWS_SECRET=secret, POST_INIT=["x"])[1]
    assert any(e.startswith("AWS_SECRET:") for e in errors)
    assert any(e.startswith("POST_INIT:") for e in errors)
    assert "XUtnFEMI" not in " ".join(errors)


def test_role_variables_of_the_collection_are_not_mistaken_for_typos():
    names = set()
    for defaults in REPO.glob("roles/*/defaults/main.yml"):
        names |= set(yaml.safe_load(defaults.read_text()) or {})
    assert find_typos(names) == []
    assert find_typos(names, role_options()) == []


def test_variables_under_a_role_prefix_must_be_the_roles_own():
    options = role_options()
    assert "disco_users_account" in options["disco_users"]
    assert find_typos({"disco_users_account", "disco_num_slave"}, options) == [
        "disco_num_slave: unknown setting; did you mean disco_num_slaves?"
    ]
    assert find_typos({"disco_users_acount"}, options) == [
        "disco_users_acount: not a variable of the role disco_users; did you mean disco_users_account?"
    ]
    assert find_typos({"disco_ec2_endpont"}, options) == [
        "disco_ec2_endpont: not a variable of the role disco_ec2; did you mean disco_aws_endpoint?"
    ]
    assert find_typos({"disco_localcloud_qqqqqqqq"}, options) == [
        "disco_localcloud_qqqqqqqq: not a variable of the role disco_localcloud; its variables are listed in "
        "roles/disco_localcloud/README.md"
    ]
    # Names the roles set themselves (vars, registered results) are theirs; only the user's names are checked.
    assert find_typos({"disco_users_result", "disco_users_acount"}, options, user_names={"disco_users_acount"}) == [
        "disco_users_acount: not a variable of the role disco_users; did you mean disco_users_account?"
    ]
    assert find_typos({"disco_num_slave"}, {"disco": []}) != [], "the configuration role's own prefix is no excuse"


def test_no_setting_starts_with_a_role_prefix():
    roles = [path.name for path in (REPO / "roles").iterdir() if path.is_dir() and path.name != "disco"]
    claimed = {name: role for name in FIELDS for role in roles if name.startswith(f"{role}_")}
    assert claimed == {}


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [
        ("disco_ec2_endpoint", "disco_aws_endpoint", "http://127.0.0.1:5000"),
        ("disco_spot_fallback", "disco_capacity_fallback", "on-demand"),
    ],
)
def test_earlier_setting_names_still_work_with_a_deprecation(old, new, value):
    assert RENAMED[old] == new
    cluster, errors = check(**{old: value})
    assert errors == []
    assert cluster[new.removeprefix("disco_")] == value
    assert deprecations({old: value}) == [f"{old} is deprecated and stops working in version 2.0.0: call it {new}"]
    assert deprecations({new: value}) == []
    other = "fail" if value == "on-demand" else "http://localhost:5001"
    errors = check(**{old: other, new: value})[1]  # the new name with a value of its own, not its default
    assert errors == [f"{old}: is set and so is {new} with another value; keep only one of them"]


def test_typos_are_caught_with_a_suggestion():
    assert find_typos({"NUM_SLAVE", "disco_num_slave", "AWS_REGION", "UNRELATED_THING"}) == [
        "AWS_REGION: not a key of the original config.json; set disco_region instead",
        "NUM_SLAVE: unknown key; did you mean NUM_SLAVES?",
        "disco_num_slave: unknown setting; did you mean disco_num_slaves?",
    ]


def test_legacy_filter_round_trips_through_validation():
    native = dict(DEFAULTS, disco_ami="ami-0123456789abcdef0", disco_mgmt_keys=[KEY])
    legacy = to_legacy_config(native)
    assert set(legacy) == set(LEGACY_TO_NATIVE)
    assert legacy["MGMT_KEY"] == KEY + "\n"
    cluster, _credentials, errors = validate(legacy, DEFAULTS)
    assert errors == []
    assert cluster["mgmt_keys"] == [KEY]


def test_readme_documents_every_setting_and_legacy_key():
    readme = (REPO / "README.md").read_text()
    for name in FIELDS:
        assert f"`{name}`" in readme, name
    for key in LEGACY_TO_NATIVE:
        assert f"`{key}`" in readme, key


def test_instance_types_may_be_lists_in_order_and_subnets_and_fallback_are_checked():
    cluster, errors = check(
        disco_ami="ami-12345678",
        disco_instance_type=["m5.large", "m5a.large"],
        disco_subnet_ids=["subnet-0123456789abcdef0", "subnet-12345678"],
        disco_capacity_fallback="on-demand",
        disco_slave_groups=[
            {"name": "big", "count": 2, "instance_type": ["c5.xlarge", "c6i.xlarge"]},
            {"name": "d", "count": 1},
        ],
    )
    assert errors == []
    assert cluster["master"]["instance_types"] == ["m5.large", "m5a.large"]
    assert cluster["master"]["instance_type"] == "m5.large"
    assert [g["instance_types"] for g in cluster["slave_groups"]] == [
        ["c5.xlarge", "c6i.xlarge"],
        ["m5.large", "m5a.large"],
    ]
    assert cluster["subnet_ids"] == ["subnet-0123456789abcdef0", "subnet-12345678"]
    assert cluster["capacity_fallback"] == "on-demand"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"disco_instance_type": []}, "disco_instance_type: must list at least one instance type"),
        ({"disco_instance_type": ["m5.large", "M5 Large"]}, "disco_instance_type: item 2 must be an EC2 instance type"),
        ({"disco_instance_type": ["m5.large", "m5.large"]}, "disco_instance_type: item 2 lists m5.large twice"),
        ({"INSTANCE_TYPE": "big one"}, "INSTANCE_TYPE: must be an EC2 instance type"),
        ({"disco_master_instance_type": []}, "disco_master_instance_type: must list at least one instance type"),
        (
            {"disco_slave_groups": [{"name": "g", "count": 1, "instance_type": []}]},
            "disco_slave_groups[1].instance_type: must list at least one instance type",
        ),
        (
            {"disco_subnet_ids": ["subnet-xyz"]},
            "disco_subnet_ids: item 1 must be a subnet id such as subnet-0123456789abcdef0",
        ),
        ({"disco_subnet_ids": "subnet-12345678"}, "disco_subnet_ids: must be a list of subnet ids"),
        ({"disco_capacity_fallback": "maybe"}, "disco_capacity_fallback: must be one of fail, on-demand"),
    ],
)
def test_bad_instance_types_subnets_and_fallback_are_refused_naming_the_field(given, message):
    _cluster, errors = check(disco_ami="ami-12345678", **given)
    assert any(error.startswith(message) for error in errors), errors


def test_public_ip_false_needs_a_way_to_the_nodes():
    _cluster, errors = check(disco_public_ip=False)
    assert len(errors) == 1 and errors[0].startswith("disco_public_ip: is false")
    for way in (
        {"disco_ssh_via_master": True},
        {"disco_ssh_jump_host": "admin@bastion"},
        {"disco_ssh_address": "private"},
    ):
        cluster, errors = check(disco_public_ip=False, **way)
        assert errors == [], way
        assert cluster["public_ip"]["slave"] is False
        assert cluster["public_ip"]["master"] is ("disco_ssh_via_master" in way), "the master keeps one as jump host"
    cluster, errors = check()
    assert errors == [] and cluster["public_ip"] == {"master": True, "slave": True}


@pytest.mark.parametrize("value", ["bastion", "admin@", "admin@host:0", "admin@host:70000", "a b@host", "@host"])
def test_a_jump_host_is_user_at_host_and_port(value):
    _cluster, errors = check(disco_ssh_jump_host=value)
    assert [e.split(":")[0] for e in errors] == ["disco_ssh_jump_host"], errors


def test_a_jump_host_is_kept_as_given():
    cluster, errors = check(disco_ssh_jump_host="ec2-user@10.0.0.5:2222")
    assert errors == [] and cluster["ssh_jump_host"] == "ec2-user@10.0.0.5:2222"


@pytest.mark.parametrize(
    ("given", "idle", "lifetime"),
    [
        ({}, 60, 0.0),
        ({"disco_idle_timeout": 0, "disco_max_lifetime": 8}, 0, 8.0),
        ({"disco_idle_timeout": "2", "disco_max_lifetime": "1.5"}, 2, 1.5),
        ({"disco_idle_timeout": 43200, "disco_max_lifetime": 720}, 43200, 720.0),
    ],
)
def test_the_cluster_ends_itself_after_an_idle_time_and_a_lifetime(given, idle, lifetime):
    cluster, errors = check(disco_ami="ami-12345678", **given)
    assert errors == []
    assert cluster["lifetime"] == {"idle_timeout": idle, "max_lifetime": lifetime}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"disco_idle_timeout": -5}, "disco_idle_timeout: must be 0 (never) or a whole number of minutes from 2"),
        ({"disco_idle_timeout": 1}, "disco_idle_timeout: must be 0 (never) or a whole number of minutes from 2"),
        ({"disco_idle_timeout": "soon"}, "disco_idle_timeout: must be 0 (never) or a whole number of minutes"),
        ({"disco_idle_timeout": 2.5}, "disco_idle_timeout: must be 0 (never) or a whole number of minutes"),
        ({"disco_idle_timeout": True}, "disco_idle_timeout: must be 0 (never)"),
        ({"disco_idle_timeout": 43201}, "disco_idle_timeout: must be 0 (never) or a whole number of minutes"),
        ({"disco_max_lifetime": -1}, "disco_max_lifetime: must be 0 (never) or a number of hours"),
        ({"disco_max_lifetime": 721}, "disco_max_lifetime: must be 0 (never) or a number of hours above 0"),
        ({"disco_max_lifetime": "8h"}, "disco_max_lifetime: must be 0 (never) or a number of hours"),
        ({"disco_max_lifetime": float("nan")}, "disco_max_lifetime: must be 0 (never)"),
        ({"disco_max_lifetime": [8]}, "disco_max_lifetime: must be 0 (never)"),
    ],
)
def test_bad_idle_timeouts_and_lifetimes_are_refused_naming_the_field(given, message):
    _cluster, errors = check(disco_ami="ami-12345678", **given)
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_upper_case_lifetime_keys_point_at_the_settings():
    _cluster, errors = check(disco_ami="ami-12345678", IDLE_TIMEOUT=30)
    assert any("IDLE_TIMEOUT" in error and "disco_idle_timeout" in error for error in errors), errors


@pytest.mark.parametrize("role", sorted(path.name for path in (REPO / "roles").iterdir() if path.is_dir()))
def test_every_role_variable_is_in_its_argument_spec_and_its_readme(role):
    """Each default of a role is declared in its meta/argument_specs.yml and documented in its README (the
    settings of the role disco, the user's, in the top-level README's table)."""
    path = REPO / "roles" / role
    defaults = (
        yaml.safe_load((path / "defaults/main.yml").read_text()) or {} if (path / "defaults/main.yml").exists() else {}
    )
    specs = yaml.safe_load((path / "meta/argument_specs.yml").read_text())["argument_specs"]
    declared = {name for entry in specs.values() for name in (entry.get("options") or {})}
    assert set(defaults) <= declared, sorted(set(defaults) - declared)
    readme = (REPO / "README.md" if role == "disco" else path / "README.md").read_text()
    assert [name for name in defaults if f"`{name}`" not in readme] == []


def test_the_setting_files_are_written_from_fields():
    """defaults, argument spec and both settings tables are what scripts/settings.py writes from FIELDS."""
    run = subprocess.run(
        [sys.executable, "scripts/settings.py", "--check"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert {spec["type"] for spec in SPECS.values()} == {"raw"}, "one validator: Ansible's conversion never speaks"
    assert [name for name, spec in SPECS.items() if spec.get("no_log")] == [
        "disco_aws_access_key",
        "disco_aws_secret_key",
        "disco_post_init",
    ]


def test_a_count_beside_slave_groups_is_refused_whichever_name_gives_it():
    groups = [{"name": "big", "count": 2}]
    message = "cannot be used together with disco_slave_groups; give each group a count instead"
    assert check(disco_num_slaves=5, disco_slave_groups=groups)[1] == [f"disco_num_slaves: {message}"]
    assert check(NUM_SLAVES=5, disco_slave_groups=groups)[1] == [f"NUM_SLAVES: {message}"]
    cluster, errors = check(disco_slave_groups=groups)
    assert errors == [] and cluster["num_slaves"] == 2


@pytest.mark.parametrize(
    "requirement",
    [
        "iso8601",
        'requests>=2.31,<3; python_version < "3.14"',
        "numpy == 2.1.*",
        "pkg[extra] @ https://example.org/p.whl",
        "git+https://example.org/x.git#egg=x",
        "-e git+https://example.org/x.git#egg=x",
        "./wheels/x.whl",
    ],
)
def test_pip_requirements_are_what_pip_reads(requirement):
    cluster, errors = check(disco_pip_requirements=[requirement])
    assert errors == [] and cluster["pip_requirements"] == [requirement]


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        ("iso8601; rm -rf /", "'iso8601; rm -rf /' is not one (Expected a marker variable or quoted string)"),
        ("numpy =< 2", "'numpy =< 2' is not one"),
        ("--index-url https://example.org/simple", "got the option '--index-url https://example.org/simple'"),
        ("six\nrequests", "got several lines"),
    ],
)
def test_pip_requirements_pip_would_refuse_are_refused_naming_the_field(requirement, message):
    errors = check(PIP_REQUIREMENTS=[requirement])[1]
    assert len(errors) == 1 and errors[0].startswith("PIP_REQUIREMENTS: item 1 must be one pip requirement"), errors
    assert message in errors[0]


def test_the_action_deprecates_in_the_version_the_rules_name():
    """pylint's deprecation check needs a literal version in Display.deprecated: it must be RENAMED_IN_VERSION."""
    source = (REPO / "plugins/action/cluster_config.py").read_text()
    assert f'version="{RENAMED_IN_VERSION}"' in source
