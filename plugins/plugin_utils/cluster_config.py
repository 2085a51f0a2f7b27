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
    "EC2_ENDPOINT": "disco_ec2_endpoint",
    "ENDPOINT_URL": "disco_ec2_endpoint",
    "MGMT_KEYS": "disco_mgmt_keys",
    "MAX_PRICE": "disco_max_price",
    "IDLE_TIMEOUT": "disco_idle_timeout",
    "MAX_LIFETIME": "disco_max_lifetime",
}

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
SPOT_FALLBACKS = ("fail", "on-demand")
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
    """One native setting: its checker turns the raw value into the normalised one or raises ConfigError."""

    name: str
    check: Callable[[Any], Any]


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
    text = _string(value, "a pip requirement", allow_empty=False)
    if "\n" in text or (text.startswith("-") and not text.startswith(("-e ", "--editable "))):
        raise ConfigError(f"must be one pip requirement (a name, a spec or a URL), got {_shown(text)}")
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
        Field("disco_cluster_name", _pattern(NAME_RE, "a cluster name of 1-32 lower-case letters, digits and '-'")),
        Field("disco_tag_key", _tag_key),
        Field("disco_region", _pattern(REGION_RE, "an AWS region such as us-east-1")),
        Field("disco_ec2_endpoint", _endpoint),
        Field("disco_aws_access_key", _secret),
        Field("disco_aws_secret_key", _secret),
        Field("disco_ami", _ami),
        Field("disco_instance_type", _instance_types),
        Field("disco_master_instance_type", _instance_types),
        Field("disco_slave_instance_type", _instance_types),
        Field(
            "disco_subnet_ids",
            _list_of(_pattern(SUBNET_RE, "a subnet id such as subnet-0123456789abcdef0"), "subnet ids"),
        ),
        Field("disco_spot_fallback", _choice(SPOT_FALLBACKS)),
        Field("disco_max_price", _price),
        Field("disco_master_market", _choice(MARKETS)),
        Field("disco_key_name", lambda v: _string(v, "an EC2 key pair name") or None),
        Field("disco_security_groups", _list_of(_plain_string, "security group names or sg- ids")),
        Field("disco_ssh_cidrs", _list_of(_cidr, "CIDRs")),
        Field("disco_ssh_user", _pattern(USER_RE, "a Unix user name such as admin")),
        Field("disco_ssh_address", _choice(ADDRESS_CHOICES)),
        Field("disco_ssh_via_master", _boolean),
        Field("disco_ssh_jump_host", _jump_host),
        Field("disco_public_ip", _boolean),
        Field("disco_mgmt_keys", _public_keys),
        Field("disco_num_slaves", _whole_number(0, MAX_SLAVES)),
        Field("disco_slave_groups", lambda v: v),  # checked by _slave_groups, which needs the other fields
        Field("disco_master_multiplier", _whole_number(0, MAX_MULTIPLIER)),
        Field("disco_slave_multiplier", _whole_number(1, MAX_MULTIPLIER)),
        Field("disco_base_packages", _list_of(_package, "Debian package names")),
        Field("disco_additional_packages", _list_of(_package, "Debian package names")),
        Field("disco_pip_requirements", _list_of(_pip_requirement, "pip requirements")),
        Field("disco_post_init", _script),
        Field("disco_wait_timeout", _whole_number(30, 7200)),
        Field("disco_ssh_timeout", _whole_number(10, 3600)),
        Field("disco_local_cloud", _boolean),
        Field("disco_instance_profile", _instance_profile),
        Field("disco_s3_buckets", _list_of(_bucket, "S3 bucket names")),
        Field("disco_s3_read_buckets", _list_of(_bucket, "S3 bucket names")),
        Field("disco_idle_timeout", _idle_timeout),
        Field("disco_max_lifetime", _max_lifetime),
    )
}


class Errors:
    """Collects every problem, each naming the field as the user wrote it."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, field: str, message: str) -> None:
        self.messages.append(f"{field}: {message}")


def label(native: str, given: Mapping[str, Any]) -> str:
    """The field's name as the user wrote it (the legacy key when that is what was given)."""
    legacy = NATIVE_TO_LEGACY.get(native)
    return legacy if legacy and legacy in given else native


def find_typos(names: set[str], role_names: Iterable[str] = ()) -> list[str]:
    """Messages for variable names that look like misspellings of configuration keys.

    A name under a role's prefix (``disco_users_name`` for the role ``disco_users``) belongs to that role and is
    never taken for a typo; the roles themselves validate their variables with their argument specs.
    """
    messages = []
    legacy_names = list(LEGACY_TO_NATIVE)
    native_names = list(FIELDS)
    role_prefixes = tuple(f"{role}_" for role in role_names if role != "disco")
    for name in sorted(names):
        if name in LEGACY_TO_NATIVE or name in FIELDS or (role_prefixes and name.startswith(role_prefixes)):
            continue
        if name in LEGACY_HINTS:
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
    """Native settings from native and legacy variables: a legacy key wins over a native default."""
    raw: dict[str, Any] = {}
    for native in FIELDS:
        legacy = NATIVE_TO_LEGACY.get(native)
        native_value = given.get(native, defaults.get(native))
        native_explicit = native in given and (native not in defaults or given[native] != defaults[native])
        if legacy and legacy in given:
            if native_explicit and given[native] != given[legacy]:
                errors.add(legacy, f"is set and so is {native} with another value; keep only one of them")
            raw[native] = given[legacy]
        else:
            raw[native] = native_value
    return raw


def _slave_groups(raw: dict[str, Any], cfg: dict[str, Any], given: Mapping[str, Any], errors: Errors) -> None:
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
    if "NUM_SLAVES" in given:
        errors.add("NUM_SLAVES", "cannot be used together with disco_slave_groups; give each group a count instead")
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
    given: Mapping[str, Any], defaults: Mapping[str, Any], role_names: Iterable[str] = ()
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Check and normalise a configuration.

    ``given`` holds the play's variables (legacy and native names), ``defaults`` the role defaults,
    ``role_names`` the collection's roles (their prefixed variables are not configuration typos).
    Returns (cluster, credentials, errors): the normalised cluster settings without secrets, the AWS
    credentials (None for the default credential chain), and the error messages (empty when valid).
    """
    errors = Errors()
    errors.messages.extend(find_typos(set(given), role_names))
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
    _slave_groups(raw, cfg, given, errors)
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
        "ec2_endpoint": cfg.get("ec2_endpoint"),
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
        "spot_fallback": cfg.get("spot_fallback"),
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
