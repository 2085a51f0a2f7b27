# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster configuration: the legacy disposabledisco keys, their native names, and every validation rule.

This is the one place that maps the original ``config.json`` keys (upper case) to the collection's native
variables (``disco_*``) and that decides what a valid cluster looks like. It runs on the controller, before
any call to EC2, and never echoes a secret (AWS keys, POST_INIT) in a message.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The original config.json keys and the native variable each one sets. The single legacy mapping.
LEGACY_TO_NATIVE: dict[str, str] = {
    "AWS_ACCESS": "disco_aws_access_key",
    "AWS_SECRET": "disco_aws_secret_key",
    "AMI": "disco_ami",
    "MAX_BID": "disco_max_price",
    "INSTANCE_TYPE": "disco_instance_type",
    "MASTER_INSTANCE_TYPE": "disco_master_instance_type",
    "SLAVE_INSTANCE_TYPE": "disco_slave_instance_type",
    "KEY_NAME": "disco_key_name",
    "SECURITY_GROUPS": "disco_security_groups",
    "MGMT_KEY": "disco_mgmt_keys",
    "TAG_KEY": "disco_tag_key",
    "NUM_SLAVES": "disco_num_slaves",
    "MASTER_MULTIPLIER": "disco_master_multiplier",
    "SLAVE_MULTIPLIER": "disco_slave_multiplier",
    "BASE_PACKAGES": "disco_base_packages",
    "ADDITIONAL_PACKAGES": "disco_additional_packages",
    "PIP_REQUIREMENTS": "disco_pip_requirements",
    "POST_INIT": "disco_post_init",
}
NATIVE_TO_LEGACY: dict[str, str] = {native: legacy for legacy, native in LEGACY_TO_NATIVE.items()}

# Upper-case keys users plausibly write for settings the original did not have, and where they belong.
LEGACY_HINTS: dict[str, str] = {
    "REGION": "disco_region",
    "AWS_REGION": "disco_region",
    "CLUSTER_NAME": "disco_cluster_name",
    "NAME": "disco_cluster_name",
    "SLAVE_GROUPS": "disco_slave_groups",
    "MASTER_MARKET": "disco_master_market",
    "SSH_CIDRS": "disco_ssh_cidrs",
    "EC2_ENDPOINT": "disco_aws_endpoint",
    "ENDPOINT_URL": "disco_aws_endpoint",
    "MGMT_KEYS": "disco_mgmt_keys",
    "MAX_PRICE": "disco_max_price",
    "IDLE_TIMEOUT": "disco_idle_timeout",
    "MAX_LIFETIME": "disco_max_lifetime",
}

# Settings renamed so that no setting starts with a role's prefix (disco_ec2_*, disco_spot_* are those roles'
# variables): the earlier name still works, with a deprecation warning, and the two may not disagree.
RENAMED: dict[str, str] = {
    "disco_ec2_endpoint": "disco_aws_endpoint",
    "disco_spot_fallback": "disco_capacity_fallback",
}
RENAMED_TO_OLD: dict[str, str] = {new: old for old, new in RENAMED.items()}
RENAMED_IN_VERSION = "2.0.0"  # when the earlier names stop working

SECRET_FIELDS = frozenset({"disco_aws_access_key", "disco_aws_secret_key", "disco_post_init"})
SLAVE_GROUP_KEYS = ("name", "count", "instance_type", "max_price", "multiplier")

AMI_RE = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
# disco_ami may name a Debian release instead of an AMI id: the launch finds its newest official image.
DEBIAN_RELEASES = ("debian-13", "debian-12")
AMI_WHAT = "an AMI id such as ami-0123456789abcdef0, or debian-13 or debian-12"
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
SUBNET_RE = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
# A bastion for SSH (ProxyJump): user@host or user@host:port.
JUMP_HOST_RE = re.compile(
    r"^[a-z_][a-z0-9_.-]{0,31}@"  # user@
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"  # host name, IPv4 or [IPv6]
    r"(?::(?P<port>\d{1,5}))?$"  # :port
)
JUMP_HOST_WHAT = "an SSH bastion as user@host or user@host:port, such as admin@bastion.example.org:22"
INSTANCE_TYPE_WHAT = "an EC2 instance type such as c5.large"
PRICE_RE = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
REGION_RE = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+$")
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:-]+)?$")
# A URL or path pip installs from (git+https://..., https://.../x.whl, ./dir): one word, no spaces.
PIP_URL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|\.{0,2}/)\S+$", re.IGNORECASE)
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
PUBKEY_TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
# IAM names (CreateInstanceProfile, CreateRole): letters, digits and _+=,.@- ; a profile's name up to 128.
IAM_NAME_RE = re.compile(r"^[\w+=,.@-]{1,128}$", re.ASCII)
# disco_instance_profile's word for "make a role and an instance profile for this cluster".
CREATE_PROFILE = "create"
# A role name has at most 64 characters (IAM quotas); the created role and profile share it.
IAM_ROLE_NAME_MAX = 64
# S3 bucket naming rules (general purpose buckets): 3-63 characters, lower-case letters, digits, dots and
# hyphens, beginning and ending with a letter or digit, no two adjacent dots, not an IPv4 address, and none
# of the reserved prefixes and suffixes.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MARKETS = ("spot", "on-demand")
CAPACITY_FALLBACKS = ("fail", "on-demand")  # disco_capacity_fallback
ADDRESS_CHOICES = ("auto", "public", "private")
MAX_MULTIPLIER = 64
MAX_SLAVES = 5000
# The cluster ends itself (docs/lifetime.md): minutes without a Disco job, hours since the first launch.
IDLE_TIMEOUT_MIN = 2  # the master looks at Disco's job list every 30 s; less would end a cluster between two jobs
MAX_LIFETIME_HOURS = 720  # 30 days
IDLE_TIMEOUT_WHAT = f"0 (never) or a whole number of minutes from {IDLE_TIMEOUT_MIN} to {MAX_LIFETIME_HOURS * 60}"
MAX_LIFETIME_WHAT = (
    f"0 (never) or a number of hours above 0 and at most {MAX_LIFETIME_HOURS} (30 days), such as 8 or 1.5"
)


class ConfigError(ValueError):
    """An invalid value; the message names the field and the expected form, never a secret."""


@dataclass(frozen=True)
class Field:
    """One native setting, the one place it is defined.

    ``check`` turns the raw value into the normalised one or raises ConfigError; ``default`` and ``doc`` are what
    ``scripts/settings.py`` writes into the role's defaults, its argument spec, and the settings tables of the
    READMEs (tests compare those files with this table).
    """

    name: str
    check: Callable[[Any], Any]
    default: Any
    doc: str


def _shown(value: Any) -> str:
    """A short, safe rendering of a (non-secret) offending value."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: Any, what: str, allow_empty: bool = True) -> str:
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"must be {what}, got a {type(value).__name__}")
    text = str(value).strip()
    if not text and not allow_empty:
        raise ConfigError(f"must be {what}, got an empty value")
    return text


def _pattern(regex: re.Pattern[str], what: str, allow_empty: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        text = _string(value, what, allow_empty)
        if not text:
            return None
        if not regex.match(text):
            raise ConfigError(f"must be {what}, got {_shown(text)}")
        return text

    return check


def _whole_number(minimum: int, maximum: int) -> Callable[[Any], int]:
    what = f"a whole number from {minimum} to {maximum}"

    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"must be {what}, got {_shown(value)}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            value = int(value)
        if not isinstance(value, int):
            raise ConfigError(f"must be {what}, got {_shown(value)}")
        if not minimum <= value <= maximum:
            raise ConfigError(f"must be {what}, got {value}")
        return value

    return check


def _idle_timeout(value: Any) -> int:
    """Minutes without a running Disco job before the cluster ends itself; 0 never."""
    try:
        minutes = _whole_number(0, MAX_LIFETIME_HOURS * 60)(value)
    except ConfigError:
        raise ConfigError(f"must be {IDLE_TIMEOUT_WHAT}, got {_shown(value)}") from None
    if 0 < minutes < IDLE_TIMEOUT_MIN:
        raise ConfigError(f"must be {IDLE_TIMEOUT_WHAT}, got {minutes}")
    return minutes


def _max_lifetime(value: Any) -> float:
    """Hours since the cluster's first launch after which it ends itself, jobs or not; 0 never."""
    number: Any = value
    if isinstance(value, str) and re.fullmatch(r"\s*(?:\d+(?:\.\d*)?|\.\d+)\s*", value):
        number = float(value)
    if isinstance(number, bool) or not isinstance(number, (int, float)) or math.isnan(number):
        raise ConfigError(f"must be {MAX_LIFETIME_WHAT}, got {_shown(value)}")
    if not 0 <= number <= MAX_LIFETIME_HOURS:
        raise ConfigError(f"must be {MAX_LIFETIME_WHAT}, got {_shown(value)}")
    return float(number)


def _price(value: Any) -> str | None:
    """A spot max price in USD per hour: a positive decimal such as "0.04"; empty means AWS's on-demand cap."""
    what = 'a positive decimal price in USD per hour, such as "0.04" (or empty for the on-demand price)'
    if isinstance(value, float):
        value = repr(value)
    text = _string(value, what)
    if not text:
        return None
    if not PRICE_RE.match(text) or float(text) <= 0:
        raise ConfigError(f"must be {what}, got {_shown(text)}")
    return text


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _string(value, "one of " + ", ".join(choices))
        if text not in choices:
            raise ConfigError(f"must be one of {', '.join(choices)}, got {_shown(text)}")
        return text

    return check


def _instance_types(value: Any) -> list[str] | None:
    """One instance type or a list of them, in order of preference; None (fall back) when empty or unset."""
    if value is None or value == "":
        return None
    if isinstance(value, list):
        if not value:
            raise ConfigError(
                f"must list at least one instance type, such as [c5.large, m5.large]; got {_shown(value)}"
            )
        types = []
        for index, element in enumerate(value, start=1):
            text = _string(element, INSTANCE_TYPE_WHAT, allow_empty=False) if isinstance(element, str) else None
            if text is None or not INSTANCE_TYPE_RE.match(text):
                raise ConfigError(f"item {index} must be {INSTANCE_TYPE_WHAT}, got {_shown(element)}")
            if text in types:
                raise ConfigError(f"item {index} lists {text} twice")
            types.append(text)
        return types
    text = _pattern(INSTANCE_TYPE_RE, INSTANCE_TYPE_WHAT + " (or a list of them)")(value)
    return [text] if text else None


def _ami(value: Any) -> str | None:
    """An AMI id, or a Debian release whose newest official image the launch looks up."""
    text = _string(value, AMI_WHAT)
    if not text:
        return None
    if not AMI_RE.match(text) and text not in DEBIAN_RELEASES:
        raise ConfigError(f"must be {AMI_WHAT}, got {_shown(text)}")
    return text


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ConfigError(f"must be true or false, got {_shown(value)}")


def _list_of(item: Callable[[Any], Any], what: str) -> Callable[[Any], list[Any]]:
    def check(value: Any) -> list[Any]:
        if value is None or value == "":
            return []
        if not isinstance(value, list):
            raise ConfigError(f"must be a list of {what}, got a {type(value).__name__} ({_shown(value)})")
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except ConfigError as error:
                raise ConfigError(f"item {index + 1} {error}") from None
        return out

    return check


def _package(value: Any) -> str:
    text = _string(value, "a Debian package name", allow_empty=False)
    if not PACKAGE_RE.match(text):
        raise ConfigError(f"must be a Debian package name (optionally name=version), got {_shown(text)}")
    return text


def _pip_requirement(value: Any) -> str:
    """One line of a requirements file: a requirement specifier (parsed as pip parses it), a URL, or -e URL."""
    text = _string(value, "a pip requirement", allow_empty=False).strip()
    what = "must be one pip requirement (a name with an optional version spec and marker, a URL, or -e URL)"
    if "\n" in text or "\r" in text:
        raise ConfigError(f"{what}, got several lines")
    target = text.split(None, 1)[1] if text.startswith(("-e ", "--editable ")) else text
    if PIP_URL_RE.match(target):
        return text
    if text.startswith("-"):
        raise ConfigError(f"{what}, got the option {_shown(text)}")
    # pip's own parser; ansible-core depends on packaging (imported here: the sanity import test's venv lacks it).
    from packaging.requirements import InvalidRequirement, Requirement  # pylint: disable=import-outside-toplevel

    try:
        Requirement(text)
    except InvalidRequirement as error:
        reason = str(error).splitlines()[0]
        raise ConfigError(f"{what}; {_shown(text)} is not one ({reason})") from None
    return text


def _plain_string(value: Any) -> str:
    return _string(value, "a non-empty string", allow_empty=False)


def _cidr(value: Any) -> str:
    text = _string(value, "an IPv4 or IPv6 CIDR such as 203.0.113.7/32", allow_empty=False)
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ConfigError(f"must be an IPv4 or IPv6 CIDR such as 203.0.113.7/32, got {_shown(text)}") from None


def _public_key(line: str) -> str:
    if "PRIVATE KEY" in line:
        raise ConfigError("holds a PRIVATE key; give the public half (the .pub file's line) instead")
    parts = line.split()
    expected = "an OpenSSH public key line ('ssh-ed25519 AAAA... comment', as in ~/.ssh/id_ed25519.pub)"
    if len(parts) < 2 or parts[0] not in PUBKEY_TYPES or not BASE64_RE.match(parts[1]):
        raise ConfigError(f"must be {expected}, got {_shown(line[:40])}")
    return line


def _public_keys(value: Any) -> list[str]:
    """MGMT_KEY: one or more public keys, as a newline-separated string or a list."""
    if value is None:
        return []
    if isinstance(value, str):
        lines = value.splitlines()
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        lines = [line for v in value for line in v.splitlines()]
    else:
        raise ConfigError("must be public keys as a newline-separated string or a list of strings")
    keys = []
    for number, line in enumerate((line.strip() for line in lines), start=1):
        if line and not line.startswith("#"):
            try:
                keys.append(_public_key(line))
            except ConfigError as error:
                raise ConfigError(f"line {number} {error}") from None
    return keys


def _secret(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise ConfigError("must be a single word with no spaces (the value is not shown)")
    return value.strip()


def _script(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError("must be a shell script as one string (the value is not shown)")
    return value


def _instance_profile(value: Any) -> str | None:
    """Empty (none), the name of an existing instance profile, or ``create``."""
    what = f"the name of an existing IAM instance profile, or {CREATE_PROFILE} (or empty for none)"
    text = _string(value, what)
    if not text:
        return None
    if not IAM_NAME_RE.match(text):
        raise ConfigError(f"must be {what}: letters, digits and _+=,.@- up to 128; got {_shown(text)}")
    return text


def _bucket(value: Any) -> str:
    what = "an S3 bucket name (3-63 lower-case letters, digits, '.' and '-')"
    text = _string(value, what, allow_empty=False)
    bad = (
        not BUCKET_RE.match(text)
        or ".." in text
        or ".-" in text
        or "-." in text
        or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", text)
        or text.startswith(BUCKET_RESERVED_PREFIXES)
        or text.endswith(BUCKET_RESERVED_SUFFIXES)
    )
    if bad:
        raise ConfigError(f"must be {what}, such as my-results; got {_shown(text)}")
    return text


def _endpoint(value: Any) -> str | None:
    text = _string(value, "an http(s) URL")
    if not text:
        return None
    if not re.match(r"^https?://[^\s/]+(?:/\S*)?$", text):
        raise ConfigError(
            f"must be an http:// or https:// URL such as https://ec2.eu-west-1.amazonaws.com, got {_shown(text)}"
        )
    return text


def _jump_host(value: Any) -> str | None:
    text = _pattern(JUMP_HOST_RE, JUMP_HOST_WHAT, allow_empty=True)(value)
    port = JUMP_HOST_RE.match(text).group("port") if text else None
    if port and not 1 <= int(port) <= 65535:
        raise ConfigError(f"must be {JUMP_HOST_WHAT} (a port from 1 to 65535), got {_shown(text)}")
    return text


def _reachable(checked: dict[str, Any], errors: Errors) -> None:
    """Nodes without a public address need a way in: the master as jump host, a bastion, or a private route."""
    if checked.get("disco_public_ip") is not False:
        return
    if checked.get("disco_ssh_via_master") or checked.get("disco_ssh_jump_host"):
        return
    if checked.get("disco_ssh_address") == "private":
        return
    errors.add(
        "disco_public_ip",
        "is false, so the nodes get no public address and nothing could reach them over SSH: set "
        "disco_ssh_via_master: true (the master keeps a public address and is the jump host), "
        "disco_ssh_jump_host: user@bastion[:port] (a bastion in the VPC), or disco_ssh_address: private "
        "(the controller runs inside the VPC)",
    )


def _tag_key(value: Any) -> str:
    text = _string(value, "a non-empty EC2 tag key", allow_empty=False)
    if len(text) > 128 or text.lower().startswith("aws:"):
        raise ConfigError(
            f"must be an EC2 tag key of at most 128 characters not starting with 'aws:', got {_shown(text)}"
        )
    return text


FIELDS: dict[str, Field] = {
    field.name: field
    for field in (
        Field(
            "disco_cluster_name",
            _pattern(NAME_RE, "a cluster name of 1-32 lower-case letters, digits and '-'"),
            "disco",
            "Name of the cluster: the value of the TAG_KEY tag on every instance, request and group it owns.",
        ),
        Field(
            "disco_tag_key",
            _tag_key,
            "disposabledisco",
            "EC2 tag key that marks this project's resources; its value is the cluster name.",
        ),
        Field(
            "disco_region",
            _pattern(REGION_RE, "an AWS region such as us-east-1"),
            "us-east-1",
            "AWS region to launch in.",
        ),
        Field(
            "disco_aws_endpoint",
            _endpoint,
            "",
            (
                "Endpoint of the AWS APIs the playbooks call (EC2, IAM, STS); empty uses AWS_ENDPOINT_URL from "
                "the environment, else AWS's own endpoints. Earlier name: disco_ec2_endpoint."
            ),
        ),
        Field(
            "disco_aws_access_key",
            _secret,
            "",
            "AWS access key id; empty uses the normal AWS credential chain (profile, env, instance role).",
        ),
        Field(
            "disco_aws_secret_key",
            _secret,
            "",
            "AWS secret access key; give it together with the access key, or neither.",
        ),
        Field(
            "disco_ami",
            _ami,
            "debian-13",
            (
                "Image every node starts from: debian-13 or debian-12 (the newest official Debian image of that "
                "release for the region and the instance types' architecture, from Debian's AWS account "
                "136693071363, names debian-13-amd64-* / -arm64-*, looked up at launch and printed), or an AMI id "
                "of your region."
            ),
        ),
        Field(
            "disco_instance_type",
            _instance_types,
            "m5.large",
            (
                "Instance type of every node unless the two below say otherwise; a list (e.g. [m5.large, "
                "m5a.large, m6i.large]) lets EC2 use any of them, so a type without spot capacity is skipped for "
                "the others."
            ),
        ),
        Field(
            "disco_master_instance_type",
            _instance_types,
            "",
            "Instance type (or list of types) of the master; empty means disco_instance_type.",
        ),
        Field(
            "disco_slave_instance_type",
            _instance_types,
            "",
            "Instance type (or list) of the slaves of the default group; empty means disco_instance_type.",
        ),
        Field(
            "disco_subnet_ids",
            _list_of(_pattern(SUBNET_RE, "a subnet id such as subnet-0123456789abcdef0"), "subnet ids"),
            [],
            (
                "Subnet ids (so zones) nodes may start in, all of one VPC (the cluster's VPC, where its security "
                "group is made), e.g. [subnet-0123456789abcdef0, subnet-0fedcba9876543210]; EC2 Fleet picks among "
                "every listed type x subnet. Empty: the default VPC's subnets (a region without a default VPC "
                "needs this set)."
            ),
        ),
        Field(
            "disco_capacity_fallback",
            _choice(CAPACITY_FALLBACKS),
            "fail",
            (
                "When no listed instance type and subnet has spot capacity for a group: fail (keep what started, "
                "report the shortfall; no request is left open) or on-demand (start the rest on-demand, at the "
                "on-demand price). Earlier name: disco_spot_fallback."
            ),
        ),
        Field(
            "disco_max_price",
            _price,
            "",
            'Spot max price in USD per hour, e.g. "0.04"; empty lets AWS cap it at the on-demand price.',
        ),
        Field(
            "disco_master_market",
            _choice(MARKETS),
            "spot",
            "Market of the master: spot (cheapest, as the original) or on-demand (survives spot reclaims).",
        ),
        Field(
            "disco_key_name",
            lambda v: _string(v, "an EC2 key pair name") or None,
            "",
            "Name of an existing EC2 key pair for the AMI's admin user; empty launches without one.",
        ),
        Field(
            "disco_security_groups",
            _list_of(_plain_string, "security group names or sg- ids"),
            [],
            (
                "Security group names or sg- ids for every node, resolved to ids in the cluster's VPC; empty "
                "creates one per cluster in that VPC (see disco_ssh_cidrs)."
            ),
        ),
        Field(
            "disco_ssh_cidrs",
            _list_of(_cidr, "CIDRs"),
            [],
            'CIDRs allowed to reach SSH (port 22) of a created security group, e.g. ["203.0.113.7/32"].',
        ),
        Field(
            "disco_ssh_user",
            _pattern(USER_RE, "a Unix user name such as admin"),
            "admin",
            "User Ansible logs in as (the AMI's admin user; Debian's images use \"admin\").",
        ),
        Field(
            "disco_ssh_address",
            _choice(ADDRESS_CHOICES),
            "auto",
            "Address Ansible uses: auto (public when the instance has one, else private), public or private.",
        ),
        Field(
            "disco_ssh_via_master",
            _boolean,
            False,
            "Reach the slaves through the master as an SSH jump host, so slaves need no public SSH.",
        ),
        Field(
            "disco_ssh_jump_host",
            _jump_host,
            "",
            (
                "A bastion every node is reached through at its private address (ProxyJump), as user@host or "
                "user@host:port; empty: none. Takes precedence over disco_ssh_via_master."
            ),
        ),
        Field(
            "disco_public_ip",
            _boolean,
            True,
            (
                "Give the nodes a public IPv4 address (true) or not (false: reach them with disco_ssh_via_master, "
                "whose master keeps one, disco_ssh_jump_host, or disco_ssh_address: private from inside the VPC)."
            ),
        ),
        Field(
            "disco_mgmt_keys",
            _public_keys,
            [],
            "Public SSH keys authorised for the disco user and the admin user: newline-separated or a list.",
        ),
        Field(
            "disco_num_slaves",
            _whole_number(0, MAX_SLAVES),
            2,
            (
                "Number of slaves in the default slave group; not together with disco_slave_groups (each group "
                "has its own count)."
            ),
        ),
        Field(
            "disco_slave_groups",
            lambda v: v,
            [],
            (
                "Slave groups, each with its own size and type, instead of disco_num_slaves; keys: name, count, "
                "instance_type, max_price, multiplier (the last three default to the settings above)."
            ),
        ),
        Field(
            "disco_master_multiplier",
            _whole_number(0, MAX_MULTIPLIER),
            1,
            "Disco workers on the master per vCPU; 0 keeps the master out of the node table.",
        ),
        Field(
            "disco_slave_multiplier",
            _whole_number(1, MAX_MULTIPLIER),
            1,
            "Disco workers on each slave per vCPU.",
        ),
        Field(
            "disco_base_packages",
            _list_of(_package, "Debian package names"),
            ["python3-pip", "python3-dev"],
            "Debian packages installed on every node before the additional ones.",
        ),
        Field(
            "disco_additional_packages",
            _list_of(_package, "Debian package names"),
            [],
            "More Debian packages for your jobs, installed on every node.",
        ),
        Field(
            "disco_pip_requirements",
            _list_of(_pip_requirement, "pip requirements"),
            [],
            "pip requirements your jobs import, installed for the system python3 on every node.",
        ),
        Field(
            "disco_post_init",
            _script,
            "",
            "A shell script run as root on every node after everything else (again only when it changes).",
        ),
        Field(
            "disco_local_cloud",
            _boolean,
            False,
            (
                "Run the cluster in the local cloud instead of AWS: moto's EC2 API on this machine, one docker "
                "container per instance (make local-cluster, examples/local.yml). Never chosen silently: only "
                "when set to true."
            ),
        ),
        Field(
            "disco_wait_timeout",
            _whole_number(30, 7200),
            600,
            "Seconds to wait for the started instances to run before giving up.",
        ),
        Field(
            "disco_ssh_timeout",
            _whole_number(10, 3600),
            300,
            (
                "Seconds to wait, once the instances run, for every node to answer SSH; a node still silent then "
                "is terminated and replaced once, and the run fails naming it if its replacement is silent too "
                "(docs/provisioning.md)."
            ),
        ),
        Field(
            "disco_instance_profile",
            _instance_profile,
            "",
            (
                "IAM instance profile of every node, so jobs reach S3 with no keys (the instance role, through "
                "IMDSv2): empty for none, the name of an existing instance profile (checked before any instance "
                "starts), or create (a role and an instance profile for this cluster, allowed on the buckets "
                "below, deleted by teardown)."
            ),
        ),
        Field(
            "disco_s3_buckets",
            _list_of(_bucket, "S3 bucket names"),
            [],
            (
                "With disco_instance_profile: create, the S3 buckets the nodes may read and write (objects and "
                "listing); refused without create."
            ),
        ),
        Field(
            "disco_s3_read_buckets",
            _list_of(_bucket, "S3 bucket names"),
            [],
            (
                "With disco_instance_profile: create, the S3 buckets the nodes may only read (get and list); "
                "refused without create."
            ),
        ),
        Field(
            "disco_idle_timeout",
            _idle_timeout,
            60,
            (
                "Minutes without a running Disco job after which the cluster ends itself (its nodes shut down "
                "and, as launched, terminate), watched on the master, laptop closed or not; 0 never. At least 2 "
                "(docs/lifetime.md)."
            ),
        ),
        Field(
            "disco_max_lifetime",
            _max_lifetime,
            0,
            (
                "Hours since the cluster's first launch after which it ends itself, jobs running or not (e.g. 8, "
                "or 1.5); 0 never, at most 720 (30 days). A re-run of launch.yml keeps the first launch's time "
                "(tag disco-started)."
            ),
        ),
    )
}


class Errors:
    """Collects every problem, each naming the field as the user wrote it."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, field: str, message: str) -> None:
        self.messages.append(f"{field}: {message}")


def aliases(native: str) -> list[str]:
    """The other names a setting may be given under: its original config.json key, its earlier name."""
    return [name for name in (NATIVE_TO_LEGACY.get(native), RENAMED_TO_OLD.get(native)) if name]


def given_alias(native: str, given: Mapping[str, Any]) -> str | None:
    """The other name the user gave a setting under (legacy key or earlier name), if any."""
    return next((alias for alias in aliases(native) if alias in given), None)


def label(native: str, given: Mapping[str, Any]) -> str:
    """The field's name as the user wrote it (the legacy key or the earlier name when that is what was given)."""
    return given_alias(native, given) or native


def deprecations(given: Mapping[str, Any]) -> list[str]:
    """A message for each setting given under its earlier name."""
    return [
        f"{old} is deprecated and stops working in version {RENAMED_IN_VERSION}: call it {new}"
        for old, new in RENAMED.items()
        if old in given
    ]


def owning_role(name: str, roles: Iterable[str]) -> str | None:
    """The role whose prefix a variable name carries (the longest), never the configuration role ``disco``."""
    owners = [role for role in roles if role != "disco" and name.startswith(f"{role}_")]
    return max(owners, key=len) if owners else None


def _role_typo(name: str, role: str, options: Iterable[str]) -> str | None:
    known = sorted(options)
    if name in known:
        return None
    close = difflib.get_close_matches(name, [*known, *FIELDS, *RENAMED], n=1, cutoff=0.8)
    hint = (
        f"did you mean {RENAMED.get(close[0], close[0])}?"
        if close
        else f"its variables are listed in roles/{role}/README.md"
    )
    return f"{name}: not a variable of the role {role}; {hint}"


def find_typos(
    names: set[str], role_options: Mapping[str, Iterable[str]] | None = None, user_names: set[str] | None = None
) -> list[str]:
    """Messages for variable names that look like misspellings of settings or of role variables.

    ``role_options`` maps each role to the variables of its argument spec. A name under a role's prefix
    (``disco_users_name`` for the role ``disco_users``) that the user gave (``user_names``, all of ``names`` when
    None) must be one of that role's variables; names under a role's prefix that come from the roles themselves
    (their defaults, vars and registered results) are theirs.
    """
    messages = []
    legacy_names = list(LEGACY_TO_NATIVE)
    native_names = list(FIELDS)
    roles = role_options or {}
    for name in sorted(names):
        if name in LEGACY_TO_NATIVE or name in FIELDS or name in RENAMED:
            continue
        role = owning_role(name, roles)
        if role:
            message = _role_typo(name, role, roles[role]) if user_names is None or name in user_names else None
            messages.extend([message] if message else [])
        elif name in LEGACY_HINTS:
            messages.append(f"{name}: not a key of the original config.json; set {LEGACY_HINTS[name]} instead")
        elif re.fullmatch(r"[A-Z][A-Z0-9_]+", name):
            close = difflib.get_close_matches(name, legacy_names, n=1, cutoff=0.8)
            if close:
                messages.append(f"{name}: unknown key; did you mean {close[0]}?")
        elif name.startswith("disco_"):
            close = difflib.get_close_matches(name, native_names, n=1, cutoff=0.88)
            if close:
                messages.append(f"{name}: unknown setting; did you mean {close[0]}?")
    return messages


def merge(given: Mapping[str, Any], defaults: Mapping[str, Any], errors: Errors) -> dict[str, Any]:
    """Native settings from native, legacy and earlier names: another name wins over a native default."""
    raw: dict[str, Any] = {}
    for native in FIELDS:
        native_value = given.get(native, defaults.get(native))
        native_explicit = explicit(native, given, defaults)
        alias = given_alias(native, given)
        if alias:
            if native_explicit and given[native] != given[alias]:
                errors.add(alias, f"is set and so is {native} with another value; keep only one of them")
            raw[native] = given[alias]
        else:
            raw[native] = native_value
    return raw


def explicit(native: str, given: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    """Whether a native setting was given with a value of its own (not its default)."""
    return native in given and (native not in defaults or given[native] != defaults[native])


def _slave_groups(
    raw: dict[str, Any], cfg: dict[str, Any], given: Mapping[str, Any], role_defaults: Mapping[str, Any], errors: Errors
) -> None:
    groups = raw.get("disco_slave_groups") or []
    defaults = {
        "instance_type": cfg.get("slave_instance_type"),
        "max_price": cfg.get("max_price"),
        "multiplier": cfg.get("slave_multiplier"),
    }
    if not groups:
        count = cfg.get("num_slaves")
        cfg["slave_groups"] = [] if count is None else [{"name": "default", "count": count, **defaults}]
        return
    if not isinstance(groups, list):
        errors.add(
            "disco_slave_groups", "must be a list of groups such as [{name: big, count: 4, instance_type: c5.xlarge}]"
        )
        return
    if "NUM_SLAVES" in given or explicit("disco_num_slaves", given, role_defaults):
        errors.add(
            label("disco_num_slaves", given),
            "cannot be used together with disco_slave_groups; give each group a count instead",
        )
    checks = {
        "name": _pattern(NAME_RE, "a group name of lower-case letters, digits and '-'"),
        "count": _whole_number(0, MAX_SLAVES),
        "instance_type": _instance_types,
        "max_price": _price,
        "multiplier": _whole_number(1, MAX_MULTIPLIER),
    }
    out, seen = [], set()
    for index, group in enumerate(groups, start=1):
        where = f"disco_slave_groups[{index}]"
        if not isinstance(group, Mapping):
            errors.add(where, f"must be a mapping with keys {', '.join(SLAVE_GROUP_KEYS)}")
            continue
        for key in group:
            if key not in checks:
                close = difflib.get_close_matches(str(key), SLAVE_GROUP_KEYS, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]}?" if close else f" (known: {', '.join(SLAVE_GROUP_KEYS)})"
                errors.add(f"{where}.{key}", "unknown key" + hint)
        entry: dict[str, Any] = {}
        for key in ("name", "count"):
            if key not in group:
                errors.add(f"{where}.{key}", "is required")
        for key, check in checks.items():
            if key in group:
                try:
                    entry[key] = check(group[key])
                except ConfigError as error:
                    errors.add(f"{where}.{key}", str(error))
            if entry.get(key) is None and key in defaults:
                entry[key] = defaults[key]
        name = entry.get("name")
        if name in seen:
            errors.add(f"{where}.name", f"{name!r} is used by another group; group names must be unique")
        seen.add(name)
        out.append(entry)
    cfg["slave_groups"] = out


def validate(
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    role_options: Mapping[str, Iterable[str]] | None = None,
    user_names: set[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Check and normalise a configuration.

    ``given`` holds the play's variables (legacy and native names), ``defaults`` the role defaults,
    ``role_options`` the variables of each of the collection's roles and ``user_names`` the names the user gave
    (see ``find_typos``).
    Returns (cluster, credentials, errors): the normalised cluster settings without secrets, the AWS
    credentials (None for the default credential chain), and the error messages (empty when valid).
    """
    errors = Errors()
    errors.messages.extend(find_typos(set(given), role_options, user_names))
    raw = merge(given, defaults, errors)
    checked: dict[str, Any] = {}
    for native, field in FIELDS.items():
        try:
            checked[native] = field.check(raw.get(native))
        except ConfigError as error:
            errors.add(label(native, given), str(error))
    cfg = {native.removeprefix("disco_"): value for native, value in checked.items() if native not in SECRET_FIELDS}
    if "disco_ami" in checked and not checked["disco_ami"]:
        errors.add(label("disco_ami", given), f"is required: {AMI_WHAT}")
    if "disco_instance_type" in checked and not checked["disco_instance_type"]:
        errors.add(label("disco_instance_type", given), f"is required: {INSTANCE_TYPE_WHAT} or a list of them")
    instance_types = cfg.get("instance_type")
    for role in ("master", "slave"):
        cfg[f"{role}_instance_type"] = cfg.get(f"{role}_instance_type") or instance_types
    _slave_groups(raw, cfg, given, defaults, errors)
    access, secret = checked.get("disco_aws_access_key"), checked.get("disco_aws_secret_key")
    if bool(access) != bool(secret):
        missing = "disco_aws_secret_key" if access else "disco_aws_access_key"
        legacy_style = "AWS_ACCESS" in given or "AWS_SECRET" in given
        errors.add(
            NATIVE_TO_LEGACY[missing] if legacy_style else missing,
            "is missing: AWS keys go in pairs (give both, or neither to use the default AWS credential chain)",
        )
    _reachable(checked, errors)
    _instance_profile_rules(cfg, errors)
    cluster = _shape(cfg, checked.get("disco_post_init", ""))
    return cluster, {"access_key": access, "secret_key": secret}, errors.messages


def _instance_profile_rules(cfg: dict[str, Any], errors: Errors) -> None:
    """Buckets only with ``create`` (an existing profile's permissions are its own), and ``create`` with some."""
    buckets = [*cfg.get("s3_buckets", []), *cfg.get("s3_read_buckets", [])]
    profile = cfg.get("instance_profile")
    if buckets and profile != CREATE_PROFILE:
        field = "disco_s3_buckets" if cfg.get("s3_buckets") else "disco_s3_read_buckets"
        errors.add(
            field,
            f"is only used with disco_instance_profile: {CREATE_PROFILE}, which makes a role allowed on these buckets"
            + (f"; the instance profile {profile} has the permissions IAM gives it" if profile else ""),
        )
    if profile == CREATE_PROFILE and not buckets:
        errors.add(
            "disco_instance_profile",
            f"{CREATE_PROFILE} makes a role allowed on S3 buckets: list them in disco_s3_buckets (read and write) "
            "and/or disco_s3_read_buckets (read only)",
        )
    overlap = sorted(set(cfg.get("s3_buckets", [])) & set(cfg.get("s3_read_buckets", [])))
    if overlap:
        errors.add("disco_s3_read_buckets", f"lists {', '.join(overlap)}, which disco_s3_buckets lists already")


def partition_of(region: str | None) -> str:
    """The ARN partition of a region: aws, aws-cn (cn-*) or aws-us-gov (us-gov-*)."""
    region = region or ""
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def s3_policy(read_write: list[str], read_only: list[str], partition: str = "aws") -> dict[str, Any]:
    """The created role's inline policy: objects and listing of ``read_write``; get and list of ``read_only``.

    disco_s3 needs: GetObject (reads and presigned inputs), PutObject and the multipart upload calls (outputs),
    ListBucket (list_s3_keys), GetBucketLocation (clients finding the bucket's region).
    """

    def arns(buckets: list[str], suffix: str = "") -> list[str]:
        return [f"arn:{partition}:s3:::{bucket}{suffix}" for bucket in buckets]

    statements: list[dict[str, Any]] = []
    if read_write:
        statements += [
            {
                "Sid": "ReadWriteBuckets",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                "Resource": arns(read_write),
            },
            {
                "Sid": "ReadWriteObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": arns(read_write, "/*"),
            },
        ]
    if read_only:
        statements += [
            {
                "Sid": "ReadBuckets",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": arns(read_only),
            },
            {"Sid": "ReadObjects", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": arns(read_only, "/*")},
        ]
    return {"Version": "2012-10-17", "Statement": statements}


# Who may assume the created role: EC2, for the instances of the instance profile.
EC2_TRUST_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def instance_profile_shape(cfg: dict[str, Any]) -> dict[str, Any]:
    """What disco_ec2 needs: the mode (none, existing, create), the profile's (and created role's) name, buckets."""
    profile = cfg.get("instance_profile")
    mode = "none" if not profile else "create" if profile == CREATE_PROFILE else "existing"
    tag_key, name = str(cfg.get("tag_key") or ""), str(cfg.get("cluster_name") or "")
    created = re.sub(r"[^\w+=,.@-]", "-", f"{tag_key[: IAM_ROLE_NAME_MAX - len(name) - 1]}-{name}", flags=re.ASCII)
    return {
        "mode": mode,
        "name": created[:IAM_ROLE_NAME_MAX] if mode == "create" else profile,
        "created_name": created[:IAM_ROLE_NAME_MAX],
        "s3_buckets": cfg.get("s3_buckets", []),
        "s3_read_buckets": cfg.get("s3_read_buckets", []),
        "policy": s3_policy(cfg.get("s3_buckets", []), cfg.get("s3_read_buckets", []), partition_of(cfg.get("region"))),
        "trust_policy": EC2_TRUST_POLICY,
    }


def _shape(cfg: dict[str, Any], post_init: str) -> dict[str, Any]:
    """The normalised cluster description the playbooks and roles consume."""
    return {
        "name": cfg.get("cluster_name"),
        "tag_key": cfg.get("tag_key"),
        "region": cfg.get("region"),
        "aws_endpoint": cfg.get("aws_endpoint"),
        "ami": cfg.get("ami"),
        "key_name": cfg.get("key_name"),
        "security_groups": cfg.get("security_groups", []),
        "ssh_cidrs": cfg.get("ssh_cidrs", []),
        "ssh_user": cfg.get("ssh_user"),
        "ssh_address": cfg.get("ssh_address"),
        "ssh_via_master": cfg.get("ssh_via_master"),
        "ssh_jump_host": cfg.get("ssh_jump_host"),
        "public_ip": _public_ip(cfg),
        "mgmt_keys": cfg.get("mgmt_keys", []),
        "master": {
            "instance_type": _first(cfg.get("master_instance_type")),
            "instance_types": cfg.get("master_instance_type") or [],
            "market": cfg.get("master_market"),
            "max_price": cfg.get("max_price"),
            "multiplier": cfg.get("master_multiplier"),
        },
        "slave_groups": [_group_shape(group) for group in cfg.get("slave_groups", [])],
        "subnet_ids": cfg.get("subnet_ids", []),
        "capacity_fallback": cfg.get("capacity_fallback"),
        "num_slaves": sum(group.get("count") or 0 for group in cfg.get("slave_groups", [])),
        "base_packages": cfg.get("base_packages", []),
        "additional_packages": cfg.get("additional_packages", []),
        "pip_requirements": cfg.get("pip_requirements", []),
        "post_init": post_init,
        "wait_timeout": cfg.get("wait_timeout"),
        "ssh_timeout": cfg.get("ssh_timeout"),
        "local_cloud": cfg.get("local_cloud"),
        "instance_profile": instance_profile_shape(cfg),
        "lifetime": {"idle_timeout": cfg.get("idle_timeout"), "max_lifetime": cfg.get("max_lifetime")},
    }


def _public_ip(cfg: dict[str, Any]) -> dict[str, bool]:
    """Whether masters and slaves get a public IPv4 address: with disco_public_ip false, the master keeps one
    only when it is the jump host (disco_ssh_via_master, no bastion, not reached privately)."""
    wanted = cfg.get("public_ip") is not False
    master_jumps = (
        bool(cfg.get("ssh_via_master")) and not cfg.get("ssh_jump_host") and cfg.get("ssh_address") != "private"
    )
    return {"master": wanted or master_jumps, "slave": wanted}


def _first(types: list[str] | None) -> str | None:
    return types[0] if types else None


def _group_shape(group: dict[str, Any]) -> dict[str, Any]:
    """A slave group with ``instance_type`` (the first choice) and ``instance_types`` (all, in order)."""
    types = group.get("instance_type") or []
    return {**group, "instance_type": _first(types), "instance_types": list(types)}
