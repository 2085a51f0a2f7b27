"""A real moto server on 127.0.0.1 for the tests, made as strict as AWS where the project relies on AWS's rules.

moto is lenient exactly where AWS is strict. :class:`StrictEC2` is a WSGI layer in front of moto's own
application that enforces what AWS documents and moto ignores:

- **ClientToken** (AWS: "Ensuring idempotency in Amazon EC2 API requests"): a repeated request with the same
  token and the same parameters gets the *first* answer again and starts nothing; the same token with other
  parameters is refused with ``IdempotentParameterMismatch``. Applies to RunInstances, RequestSpotInstances,
  CreateFleet and CreateLaunchTemplate.
- **Spot capacity** (:meth:`MotoServer.refuse_capacity`): chosen instance types and/or zones have no capacity.
  CreateFleet ``type=instant`` answers as AWS does: the call succeeds, the refused launch-template overrides come
  back in ``Errors`` (``InsufficientInstanceCapacity`` ...) next to the ``Instances`` launched from the other
  overrides. RunInstances fails with the error code.
- **Lingering network interfaces** (:meth:`MotoServer.linger_security_groups`): DeleteSecurityGroup answers
  ``DependencyViolation`` a chosen number of times, as AWS does until the interfaces of terminated instances go.
- **IAM instance profiles seen by EC2** (:meth:`MotoServer.delay_profiles`): CreateFleet with a launch template
  whose ``IamInstanceProfile`` names no existing profile launches nothing and answers, per override,
  ``InvalidParameterValue`` "Value (...) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance
  Profile name", as AWS does; moto launches anyway. With a delay set, a profile younger than that many seconds
  is refused the same way, as AWS refuses a profile that has not propagated from IAM to EC2 yet (IAM is
  eventually consistent), so callers must retry.
- **Per-call limits**: TerminateInstances takes at most 1000 instance ids per call, CreateTags at most 1000
  resource ids (:data:`MAX_IDS_PER_CALL`).
- **Networks** (:class:`Networks`), checked when instances are launched (RunInstances, and each override of
  CreateFleet, which answers them in ``Errors`` as it does capacity): security group *names* are for the default
  VPC only (AWS: "[Default VPC] The names of the security groups ... For a nondefault VPC, you must use security
  group IDs instead"), so names with a subnet of another VPC are refused (``InvalidParameterCombination``); group
  ids of another VPC than the subnet's are refused (``InvalidParameter``, "belong to different networks"); a
  template with network interfaces must carry its groups on the interface, not at instance level
  (``InvalidParameterCombination``); and with no subnet in a region without a default VPC there is nowhere to
  launch (``VPCIdNotSpecified``). :meth:`MotoServer.delete_default_vpc` makes such a region.

- **Spot price history** (:meth:`MotoServer.set_spot_prices`): moto answers DescribeSpotPriceHistory with a fixed
  price of 0.00001 for every offering, a timestamp of 2006, ignores StartTime, EndTime, AvailabilityZone and
  pagination, and returns nothing at all for a ``product-description`` filter. The stand-in serves the history the
  test sets instead, as AWS documents it: entries per instance type, zone and product description at each price
  change; with a StartTime, the changes from then to EndTime (default now) *and the last change before it*, "the
  effective price as of the start time"; without one, the last 90 days. InstanceTypes, AvailabilityZone,
  ProductDescriptions and the ``instance-type``, ``availability-zone``, ``product-description`` filters are
  honoured, MaxResults (5 to 1000, AWS's bounds; default 1000) and NextToken paginate. Nothing set: no entry.

It also records every API action it receives (:meth:`MotoServer.calls`), with its service
(:meth:`MotoServer.api_calls`, ``ec2:RunInstances``: the IAM action names a policy must allow), and with its
parameters and the actions AWS authorises along with it (:meth:`MotoServer.api_requests`, :class:`ApiCall`):
``iam:PassRole`` of the profile's role on a launch whose template (CreateFleet) or parameters (RunInstances) name
an instance profile, and on AddRoleToInstanceProfile ("The caller of this operation must be granted the PassRole
permission on the IAM role"); ``iam:TagRole`` / ``iam:TagInstanceProfile`` on CreateRole / CreateInstanceProfile
with tags (IAM authorises tags given at creation as the tagging action).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import boto3
from werkzeug.serving import BaseWSGIServer, make_server

REGION = "us-east-1"
DEBIAN_AMIS = Path(__file__).resolve().parents[2] / "roles" / "disco_localcloud" / "files" / "debian-amis.json"
# Fake credentials: moto accepts any; real ones must never be used by the tests.
FAKE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
FAKE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
IDEMPOTENT_ACTIONS = frozenset({"RunInstances", "RequestSpotInstances", "CreateFleet", "CreateLaunchTemplate"})
# Resource ids one call may name (AWS: TerminateInstances and CreateTags, "up to 1000").
MAX_IDS_PER_CALL = {"TerminateInstances": "InstanceId.", "CreateTags": "ResourceId."}
MAX_IDS = 1000
CAPACITY_MESSAGES = {
    "InsufficientInstanceCapacity": "We currently do not have sufficient {type} capacity in the Availability Zone "
    "you requested ({zone}).",
    "MaxSpotInstanceCountExceeded": "Max spot instance count exceeded",
    "capacity-not-available": "There is no Spot capacity available that matches your request.",
}

StartResponse = Callable[..., Any]
Params = list[tuple[str, str]]
PriceKey = tuple[str, str, str]  # instance type, zone, product description
LINUX = "Linux/UNIX"
PRICE_HISTORY_DAYS = 90
PRICE_PAGE = (5, 1000)
# The service EC2 passes an instance profile's role to (the iam:PassedToService of the implied iam:PassRole).
EC2_SERVICE = "ec2.amazonaws.com"
# Creating with tags is authorised as the tagging action too.
TAG_ON_CREATE = {
    "CreateRole": ("TagRole", "RoleName"),
    "CreateInstanceProfile": ("TagInstanceProfile", "InstanceProfileName"),
}


@dataclass(frozen=True)
class ApiCall:
    """One action AWS authorises: ``service:Action``, the request's parameters (implied actions: the ones IAM
    evaluates, such as ``RoleName``), the condition context IAM evaluates (``iam:PassedToService``), and, for an
    action no request names, the request that implies it."""

    action: str
    params: dict[str, str]
    context: dict[str, str] = field(default_factory=dict)
    implied_by: str = ""


def _service(environ: dict[str, Any]) -> str:
    """The service a signed request is for, from its credential scope (``Credential=KEY/date/region/service/...``)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    credential = authorization.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in authorization else ""
    scope = credential.split("/")
    return scope[3] if len(scope) > 3 else "unknown"


def _action(params: Params, environ: dict[str, Any]) -> str | None:
    for key, value in params:
        if key == "Action":
            return value
    target = environ.get("HTTP_X_AMZ_TARGET")
    return target.split(".")[-1] if target else None


def _error(code: str, message: str, status: str = "400 Bad Request") -> tuple[str, list[tuple[str, str]], bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body


def _overrides(params: Params) -> dict[tuple[str, str], dict[str, str]]:
    """CreateFleet's ``LaunchTemplateConfigs.N.Overrides.M.Field`` parameters, by (N, M)."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for key, value in params:
        parts = key.split(".")
        if len(parts) == 5 and parts[0] == "LaunchTemplateConfigs" and parts[2] == "Overrides":
            found.setdefault((parts[1], parts[3]), {})[parts[4]] = value
    return found


def _template_of(params: Params, config: str) -> dict[str, str]:
    prefix = f"LaunchTemplateConfigs.{config}.LaunchTemplateSpecification."
    return {key[len(prefix) :]: value for key, value in params if key.startswith(prefix)}


@dataclass
class Refusal:
    """No capacity for these instance types (any when empty) in these zones (any when empty), in these markets."""

    instance_types: frozenset[str]
    zones: frozenset[str]
    markets: frozenset[str]
    code: str

    def refuses(self, instance_type: str, zone: str, market: str) -> bool:
        return (
            market in self.markets
            and (not self.instance_types or instance_type in self.instance_types)
            and (not self.zones or zone in self.zones)
        )


@dataclass
class Launch:
    """What one launch (RunInstances, or one override of CreateFleet merged with its template) asks of the network."""

    subnet_id: str = ""
    group_names: list[str] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    interface_groups: list[str] = field(default_factory=list)
    has_interfaces: bool = False


class Networks:
    """AWS's rules for the network of a launch, read from moto's backend in this process."""

    def _backend(self) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ec2.models import ec2_backends

        return ec2_backends[DEFAULT_ACCOUNT_ID][REGION]

    def default_vpc(self) -> str | None:
        return next((vpc.id for vpc in self._backend().vpcs.values() if vpc.is_default), None)

    def vpc_of_subnet(self, subnet_id: str) -> str | None:
        with contextlib.suppress(Exception):
            return self._backend().get_subnet(subnet_id).vpc_id
        return None

    def vpc_of_group(self, group_id: str) -> str | None:
        with contextlib.suppress(Exception):
            group = self._backend().get_security_group_from_id(group_id)
            return group.vpc_id if group is not None else None
        return None

    def template(self, spec: dict[str, str]) -> dict[str, Any]:
        """The data of the launch template version a request names (empty when unknown)."""
        with contextlib.suppress(Exception):
            backend = self._backend()
            if spec.get("LaunchTemplateId"):
                template = backend.get_launch_template(spec["LaunchTemplateId"])
            else:
                template = backend.get_launch_template_by_name(spec.get("LaunchTemplateName", ""))
            version = spec.get("Version") or "$Default"
            if version == "$Latest":
                return dict(template.latest_version().data)
            if version == "$Default":
                return dict(template.default_version().data)
            return dict(template.get_version(int(version)).data)
        return {}

    def problem(self, launch: Launch) -> tuple[str, str] | None:
        """(code, message) as AWS refuses the launch, or None."""
        if launch.has_interfaces and (launch.group_names or launch.group_ids):
            return (
                "InvalidParameterCombination",
                "Network interfaces and an instance-level security groups may not be specified on the same request",
            )
        vpc = self.vpc_of_subnet(launch.subnet_id) if launch.subnet_id else self.default_vpc()
        if vpc is None:
            if not launch.subnet_id:
                return "VPCIdNotSpecified", "No default VPC for this user. Specify a subnet."
            return "InvalidSubnetID.NotFound", f"The subnet ID '{launch.subnet_id}' does not exist"
        if launch.group_names and vpc != self.default_vpc():
            return "InvalidParameterCombination", "The parameter groupName cannot be used with the parameter subnet"
        for group_id in [*launch.group_ids, *launch.interface_groups]:
            group_vpc = self.vpc_of_group(group_id)
            if group_vpc is None:
                return "InvalidGroup.NotFound", f"The security group '{group_id}' does not exist"
            if group_vpc != vpc:
                where = launch.subnet_id or f"the default VPC {vpc}"
                return "InvalidParameter", f"Security group {group_id} and subnet {where} belong to different networks."
        return None


def _numbered(values: dict[str, Any], prefix: str) -> list[str]:
    """``prefix.1``, ``prefix.2``, ... of flat query parameters, in order."""
    found = sorted(
        (int(key[len(prefix) + 1 :]), value)
        for key, value in values.items()
        if key.startswith(prefix + ".") and key[len(prefix) + 1 :].isdigit()
    )
    return [value for _number, value in found]


def _template_launch(data: dict[str, Any]) -> Launch:
    """The network part of a launch template's data (as moto keeps it)."""
    interfaces = data.get("NetworkInterfaces") or []
    groups = [g for interface in interfaces for g in (interface.get("Groups") or [])]
    subnet = next((i.get("SubnetId") for i in interfaces if i.get("SubnetId")), "")
    return Launch(
        subnet_id=subnet or "",
        group_names=list(data.get("SecurityGroups") or []),
        group_ids=list(data.get("SecurityGroupIds") or []),
        interface_groups=groups,
        has_interfaces=bool(interfaces),
    )


def _run_instances_launch(values: dict[str, str], networks: Networks) -> Launch:
    """RunInstances' parameters merged over its launch template's (the request's own win)."""
    spec = {key.split(".", 1)[1]: value for key, value in values.items() if key.startswith("LaunchTemplate.")}
    launch = _template_launch(networks.template(spec)) if spec else Launch()
    names, ids = _numbered(values, "SecurityGroup"), _numbered(values, "SecurityGroupId")
    interface_groups = _numbered(values, "NetworkInterface.1.SecurityGroupId")
    interface_subnet = values.get("NetworkInterface.1.SubnetId", "")
    launch.subnet_id = values.get("SubnetId") or interface_subnet or launch.subnet_id
    launch.group_names = names or launch.group_names
    launch.group_ids = ids or launch.group_ids
    if any(key.startswith("NetworkInterface.") for key in values):
        launch.has_interfaces, launch.interface_groups = True, interface_groups
    return launch


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


def _price_filters(params: Params) -> dict[str, set[str]]:
    """The request's InstanceType.N, AvailabilityZone, ProductDescription.N and Filter.N as filter name -> values."""
    wanted: dict[str, set[str]] = {}
    names = {"InstanceType.": "instance-type", "ProductDescription.": "product-description"}
    for key, value in params:
        for prefix, name in names.items():
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                wanted.setdefault(name, set()).add(value)
        if key == "AvailabilityZone":
            wanted.setdefault("availability-zone", set()).add(value)
    values = dict(params)
    for key, name in values.items():
        match = key.startswith("Filter.") and key.endswith(".Name")
        if match:
            prefix = key[: -len("Name")]
            wanted.setdefault(name, set()).update(v for k, v in params if k.startswith(prefix + "Value."))
    return wanted


def price_history_entries(
    history: dict[PriceKey, list[tuple[dt.datetime, str]]], params: Params, now: dt.datetime
) -> list[tuple[PriceKey, dt.datetime, str]]:
    """The entries DescribeSpotPriceHistory answers, newest first: in [StartTime, EndTime] plus the last before."""
    values = dict(params)
    end = _parse_time(values["EndTime"]) if values.get("EndTime") else now
    start = _parse_time(values["StartTime"]) if values.get("StartTime") else now - dt.timedelta(PRICE_HISTORY_DAYS)
    wanted = _price_filters(params)
    fields = ("instance-type", "availability-zone", "product-description")
    found = []
    for key, changes in sorted(history.items()):
        if any(name in wanted and key[index] not in wanted[name] for index, name in enumerate(fields)):
            continue
        before = [change for change in changes if change[0] <= end]
        inside = [change for change in before if change[0] >= start]
        earlier = [change for change in before if change[0] < start]
        if values.get("StartTime") and earlier:
            inside.append(max(earlier))
        found.extend((key, when, price) for when, price in inside)
    return sorted(found, key=lambda entry: (entry[1], entry[0]), reverse=True)


def price_history_response(
    params: Params, entries: list[tuple[PriceKey, dt.datetime, str]]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """One page of ``entries`` as EC2's XML, with a nextToken when more follow."""
    values = dict(params)
    try:
        size = int(values.get("MaxResults") or PRICE_PAGE[1])
        offset = int(values.get("NextToken") or 0)
    except ValueError:
        return _error("InvalidParameterValue", "MaxResults and NextToken must be numbers here")
    if not PRICE_PAGE[0] <= size <= PRICE_PAGE[1]:
        return _error("InvalidParameterValue", f"MaxResults must be from {PRICE_PAGE[0]} to {PRICE_PAGE[1]}")
    page = entries[offset : offset + size]
    items = "".join(
        f"<item><instanceType>{escape(key[0])}</instanceType><productDescription>{escape(key[2])}</productDescription>"
        f"<spotPrice>{escape(price)}</spotPrice><timestamp>{when.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</timestamp>"
        f"<availabilityZone>{escape(key[1])}</availabilityZone></item>"
        for key, when, price in page
    )
    more = offset + size < len(entries)
    token = f"<nextToken>{offset + size}</nextToken>" if more else "<nextToken/>"
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><DescribeSpotPriceHistoryResponse xmlns="{EC2_XMLNS}">'
        f"<requestId>{uuid.uuid4()}</requestId><spotPriceHistorySet>{items}</spotPriceHistorySet>{token}"
        "</DescribeSpotPriceHistoryResponse>"
    ).encode()
    return "200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body


class StrictEC2:
    """WSGI middleware in front of moto: ClientToken semantics, capacity refusals, per-call limits, a call log."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        zone_of_subnet: Callable[[str], str],
        networks: Networks | None = None,
    ) -> None:
        self.app = app
        self.zone_of_subnet = zone_of_subnet
        self.networks = networks
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.services: list[str] = []
        self.requests: list[ApiCall] = []
        self.tokens: dict[tuple[str, str], tuple[str, tuple[str, list[tuple[str, str]], bytes]]] = {}
        self.refusals: list[Refusal] = []
        self.lingering = 0
        self.profile_delay = 0.0
        self.profile_at_least = 0
        self.profile_born: dict[str, float] = {}
        self.profile_refused: Counter[str] = Counter()
        self.profile_refusals = 0
        self.spot_prices: dict[PriceKey, list[tuple[dt.datetime, str]]] = {}

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.services.clear()
            self.requests.clear()
            self.tokens.clear()
            self.refusals.clear()
            self.lingering = 0
            self.profile_delay = 0.0
            self.profile_at_least = 0
            self.profile_born.clear()
            self.profile_refused.clear()
            self.profile_refusals = 0
            self.spot_prices.clear()

    def _refusal(self, instance_type: str, zone: str, market: str) -> Refusal | None:
        with self.lock:
            return next((r for r in self.refusals if r.refuses(instance_type, zone, market)), None)

    # --- WSGI ---------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        params: Params = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True) if form else []
        params += urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        action = _action(params, environ)
        if action and not environ.get("PATH_INFO", "").startswith("/moto-api"):
            service = _service(environ)
            request = ApiCall(f"{service}:{action}", dict(params))
            implied = _implied(action, params) if service in ("ec2", "iam") else []
            with self.lock:
                self.calls.append(action)
                self.services.append(service)
                self.requests += [request, *implied]
        status, headers, out = self._handle(environ, action, params, body)
        start_response(status, headers)
        return [out]

    def _forward(self, environ: dict[str, Any], body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        environ = dict(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            answer["status"], answer["headers"] = status, headers
            return lambda data: None

        chunks = self.app(environ, capture)
        try:
            out = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        headers = [(k, v) for k, v in answer["headers"] if k.lower() != "content-length"]
        return answer["status"], [*headers, ("Content-Length", str(len(out)))], out

    def _handle(
        self, environ: dict[str, Any], action: str | None, params: Params, body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        limit = MAX_IDS_PER_CALL.get(action or "")
        if limit and sum(1 for param in params if param[0].startswith(limit)) > MAX_IDS:
            return _error("InvalidParameterValue", f"{action}: at most {MAX_IDS} ids per call")
        if action == "DeleteSecurityGroup" and self.lingering:
            with self.lock:
                self.lingering -= 1
            group = dict(params).get("GroupId") or dict(params).get("GroupName", "")
            return _error("DependencyViolation", f"resource {group} has a dependent object")
        if action == "CreateInstanceProfile":
            answer = self._forward(environ, body)
            if answer[0].startswith("200"):
                with self.lock:
                    self.profile_born[dict(params).get("InstanceProfileName", "")] = time.monotonic()
            return answer
        token = next((value for key, value in params if key == "ClientToken"), "")
        if action not in IDEMPOTENT_ACTIONS or not token:
            return self._dispatch(environ, action, params, body)
        fingerprint = json.dumps(sorted(p for p in params if p[0] != "ClientToken"))
        with self.lock:
            seen = self.tokens.get((action, token))
        if seen is not None:
            if seen[0] != fingerprint:
                return _error(
                    "IdempotentParameterMismatch",
                    f"The client token {token} was used before with other parameters.",
                )
            return seen[1]
        answer = self._dispatch(environ, action, params, body)
        if answer[0].startswith("200"):
            with self.lock:
                self.tokens[(action, token)] = (fingerprint, answer)
        return answer

    def _profile_problem(self, params: Params) -> str | None:
        """Why EC2 would refuse the instance profile of CreateFleet's launch templates, or None."""
        for config in sorted(
            {param[0].split(".")[1] for param in params if param[0].startswith("LaunchTemplateConfigs.")}
        ):
            profile = _template_profile(_template_of(params, config))
            if not profile:
                continue
            name = _existing_profile(profile)
            with self.lock:
                born = self.profile_born.get(name or "")
                young = born is not None and (
                    time.monotonic() - born < self.profile_delay or self.profile_refused[name] < self.profile_at_least
                )
                if young:
                    self.profile_refused[name] += 1
            if name is None or young:
                shown = profile.get("Name") or profile.get("Arn", "")
                kind = "name" if "Name" in profile else "arn"
                return (
                    f"Value ({shown}) for parameter iamInstanceProfile.{kind} is invalid. "
                    f"Invalid IAM Instance Profile {kind.upper() if kind == 'arn' else kind}"
                )
        return None

    def _dispatch(
        self, environ: dict[str, Any], action: str | None, params: Params, body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        if action == "CreateFleet":
            problem = self._profile_problem(params)
            if problem:
                with self.lock:
                    self.profile_refusals += 1
                market = dict(params).get("TargetCapacitySpecification.DefaultTargetCapacityType", "on-demand")
                errors = [
                    (_template_of(params, config), override, market, "InvalidParameterValue", problem)
                    for (config, _number), override in sorted(_overrides(params).items())
                ]
                status, headers, out = _fleet_response(f"fleet-{uuid.uuid4()}", "<fleetInstanceSet/>")
                error_xml = "<errorSet>" + "".join(_error_item(*error) for error in errors) + "</errorSet>"
                out = out.replace(b"</CreateFleetResponse>", error_xml.encode() + b"</CreateFleetResponse>")
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                return status, [*headers, ("Content-Length", str(len(out)))], out
        if action == "DescribeSpotPriceHistory":
            with self.lock:
                history = {key: list(changes) for key, changes in self.spot_prices.items()}
            return price_history_response(params, price_history_entries(history, params, dt.datetime.now(dt.UTC)))
        if action == "CreateFleet" and (self.refusals or self.networks):
            return self._create_fleet(environ, params, body)
        if action == "RunInstances" and self.networks:
            problem = self.networks.problem(_run_instances_launch(dict(params), self.networks))
            if problem:
                return _error(*problem)
        if self.refusals and action == "RunInstances":
            values = dict(params)
            market = "spot" if values.get("InstanceMarketOptions.MarketType") == "spot" else "on-demand"
            instance_type = values.get("InstanceType", "m1.small")
            zone = self._zone(values.get("SubnetId", ""), values.get("Placement.AvailabilityZone", ""))
            refusal = self._refusal(instance_type, zone, market)
            if refusal:
                message = CAPACITY_MESSAGES.get(refusal.code, refusal.code).format(type=instance_type, zone=zone)
                return _error(refusal.code, message, status="500 Internal Server Error")
        return self._forward(environ, body)

    def _zone(self, subnet_id: str, zone: str) -> str:
        if zone or not subnet_id:
            return zone
        with contextlib.suppress(Exception):
            return self.zone_of_subnet(subnet_id)
        return ""

    def _create_fleet(
        self, environ: dict[str, Any], params: Params, body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        values = dict(params)
        market = values.get("TargetCapacitySpecification.DefaultTargetCapacityType", "on-demand")
        refused: set[tuple[str, str]] = set()
        errors = []
        templates: dict[str, Launch] = {}
        for (config, number), override in sorted(_overrides(params).items()):
            instance_type = override.get("InstanceType", "")
            zone = self._zone(override.get("SubnetId", ""), override.get("AvailabilityZone", ""))
            if self.networks is not None:
                if config not in templates:
                    templates[config] = _template_launch(self.networks.template(_template_of(params, config)))
                template = templates[config]
                launch = Launch(**{**template.__dict__, "subnet_id": override.get("SubnetId") or template.subnet_id})
                problem = self.networks.problem(launch)
                if problem:
                    refused.add((config, number))
                    errors.append((_template_of(params, config), override, market, *problem))
                    continue
            refusal = self._refusal(instance_type, zone, market)
            if refusal:
                refused.add((config, number))
                message = CAPACITY_MESSAGES.get(refusal.code, refusal.code).format(type=instance_type, zone=zone)
                errors.append((_template_of(params, config), override, market, refusal.code, message))
        if not refused:
            return self._forward(environ, body)
        kept = _renumbered(params, refused)
        if not _overrides(kept):
            answer = _fleet_response(f"fleet-{uuid.uuid4()}", "<fleetInstanceSet/>")
        else:
            answer = self._forward(environ, urllib.parse.urlencode(kept).encode())
            if not answer[0].startswith("200"):
                return answer
        status, headers, out = answer
        error_xml = "<errorSet>" + "".join(_error_item(*error) for error in errors) + "</errorSet>"
        out = out.replace(b"</CreateFleetResponse>", error_xml.encode() + b"</CreateFleetResponse>")
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        return status, [*headers, ("Content-Length", str(len(out)))], out


def _renumbered(params: Params, dropped: set[tuple[str, str]]) -> Params:
    """``params`` without the dropped overrides, the others renumbered 1, 2, ... per launch template config."""
    numbers: dict[tuple[str, str], int] = {}
    for config, number in sorted(
        {(p[0].split(".")[1], p[0].split(".")[3]) for p in params if p[0].count(".") == 4 and ".Overrides." in p[0]},
        key=lambda cn: (int(cn[0]), int(cn[1])),
    ):
        if (config, number) not in dropped:
            numbers[(config, number)] = sum(1 for key in numbers if key[0] == config) + 1
    out: Params = []
    for key, value in params:
        parts = key.split(".")
        if len(parts) == 5 and parts[0] == "LaunchTemplateConfigs" and parts[2] == "Overrides":
            new = numbers.get((parts[1], parts[3]))
            if new is None:
                continue
            key = ".".join([*parts[:3], str(new), parts[4]])
        out.append((key, value))
    return out


def _fleet_response(fleet_id: str, instances_xml: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CreateFleetResponse xmlns="{EC2_XMLNS}">'
        f"<requestId>{uuid.uuid4()}</requestId><fleetId>{fleet_id}</fleetId>{instances_xml}</CreateFleetResponse>"
    ).encode()
    return "200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body


def _elements(values: dict[str, str], tags: tuple[tuple[str, str], ...]) -> str:
    """``<tag>value</tag>`` (escaped) for each (key, tag) of ``tags`` whose key ``values`` holds, in that order."""
    return "".join(f"<{tag}>{escape(values[key])}</{tag}>" for key, tag in tags if key in values)


def _error_item(template: dict[str, str], override: dict[str, str], market: str, code: str, message: str) -> str:
    spec = _elements(
        template,
        (
            ("LaunchTemplateId", "launchTemplateId"),
            ("LaunchTemplateName", "launchTemplateName"),
            ("Version", "version"),
        ),
    )
    over = _elements(
        override,
        (
            ("InstanceType", "instanceType"),
            ("SubnetId", "subnetId"),
            ("AvailabilityZone", "availabilityZone"),
            ("MaxPrice", "maxPrice"),
        ),
    )
    return (
        "<item><launchTemplateAndOverrides>"
        f"<launchTemplateSpecification>{spec}</launchTemplateSpecification><overrides>{over}</overrides>"
        f"</launchTemplateAndOverrides><lifecycle>{market}</lifecycle>"
        f"<errorCode>{escape(code)}</errorCode><errorMessage>{escape(message)}</errorMessage></item>"
    )


def _template_profile(spec: dict[str, str]) -> dict[str, str]:
    """The IamInstanceProfile ({Name} or {Arn}) of the launch template a fleet names, from moto's state."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    with contextlib.suppress(Exception):
        if spec.get("LaunchTemplateId"):
            template = backend.get_launch_template(spec["LaunchTemplateId"])
        else:
            template = backend.get_launch_template_by_name(spec.get("LaunchTemplateName", ""))
        version = spec.get("Version", "$Latest")
        data = (
            template.latest_version()
            if version in ("$Latest", "")
            else template.default_version()
            if version == "$Default"
            else template.get_version(int(version))
        ).data
        return dict(data.get("IamInstanceProfile") or {})
    return {}


def _existing_profile(profile: dict[str, str]) -> str | None:
    """The name of the IAM instance profile ``profile`` ({Name} or {Arn}) names, when it exists."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    for candidate in iam_backends[DEFAULT_ACCOUNT_ID]["aws"].get_instance_profiles():
        if candidate.name == profile.get("Name") or candidate.arn == profile.get("Arn"):
            return str(candidate.name)
    return None


def _implied(action: str, params: Params) -> list[ApiCall]:
    """The actions AWS authorises along with ``action`` although no request names them."""
    values = dict(params)
    if action in TAG_ON_CREATE and any(key.startswith("Tags.member.") for key in values):
        tagging, name = TAG_ON_CREATE[action]
        return [ApiCall(f"iam:{tagging}", {name: values.get(name, "")}, implied_by=action)]
    if action == "AddRoleToInstanceProfile":
        roles = [values.get("RoleName", "")]
    elif action == "CreateFleet":
        configs = sorted({key.split(".")[1] for key in values if key.startswith("LaunchTemplateConfigs.")})
        roles = [role for config in configs for role in _profile_roles(_template_profile(_template_of(params, config)))]
    elif action == "RunInstances":
        profile = {key.split(".", 1)[1]: value for key, value in params if key.startswith("IamInstanceProfile.")}
        roles = _profile_roles(profile)
    else:
        return []
    return [
        ApiCall("iam:PassRole", {"RoleName": role}, {"iam:PassedToService": EC2_SERVICE}, implied_by=action)
        for role in dict.fromkeys(roles)
        if role
    ]


def _profile_roles(profile: dict[str, str]) -> list[str]:
    """The roles of the existing instance profile ``profile`` ({Name} or {Arn}) names (none when it does not exist)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    if not profile:
        return []
    for candidate in iam_backends[DEFAULT_ACCOUNT_ID]["aws"].get_instance_profiles():
        if candidate.name == profile.get("Name") or candidate.arn == profile.get("Arn"):
            return [str(role.name) for role in candidate.roles]
    return []


def _zone_of_subnet(subnet_id: str) -> str:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    return ec2_backends[DEFAULT_ACCOUNT_ID][REGION].get_subnet(subnet_id).availability_zone


def _fleets_use_template_security_groups() -> None:
    """moto's EC2 Fleet reads a template's security groups from a key no template has (``GroupSet``), so its
    instances land in the default group; AWS launches them in the template's groups. Give moto that key."""
    from moto.ec2.models import launch_templates

    version = launch_templates.LaunchTemplateVersion
    if getattr(version, "_disco_group_set", False):
        return
    original = version.__init__

    def init(self: Any, template: Any, number: int, data: dict[str, Any], description: str) -> None:
        interfaces = data.get("NetworkInterfaces") or []
        groups = [*(data.get("SecurityGroupIds") or []), *(data.get("SecurityGroups") or [])]
        groups += [group for interface in interfaces for group in (interface.get("Groups") or [])]
        data = {**data, "GroupSet": groups} if groups else data
        original(self, template, number, data, description)

    version.__init__ = init
    version._disco_group_set = True


_FLEET = threading.local()


def _fleets_use_template_public_ip() -> None:
    """moto's EC2 Fleet ignores a template's network interface, so its instances in a subnet get no public address
    whatever the template asks; AWS gives one when the interface says ``AssociatePublicIpAddress: true`` (and
    none when false). While a fleet call runs (in its request's thread), its launches get the template's choice."""
    from moto.ec2.models import fleets, instances

    if getattr(fleets.FleetsBackend, "_disco_public_ip", False):
        return
    create_fleet, run_instances = fleets.FleetsBackend.create_fleet, instances.InstanceBackend.run_instances

    def choice(backend: Any, configs: list[dict[str, Any]]) -> bool | None:
        wanted = set()
        for config in configs:
            spec = config.get("LaunchTemplateSpecification") or {}
            with contextlib.suppress(Exception):
                template = (
                    backend.get_launch_template(spec["LaunchTemplateId"])
                    if spec.get("LaunchTemplateId")
                    else backend.get_launch_template_by_name(spec.get("LaunchTemplateName", ""))
                )
                interfaces = template.latest_version().data.get("NetworkInterfaces") or [{}]
                value = interfaces[0].get("AssociatePublicIpAddress")
                if value is not None:
                    wanted.add(str(value).lower() == "true")
        return wanted.pop() if len(wanted) == 1 else None

    def fleet(self: Any, *args: Any, **kwargs: Any) -> Any:
        _FLEET.public_ip = choice(self, kwargs.get("launch_template_configs") or [])
        try:
            return create_fleet(self, *args, **kwargs)
        finally:
            _FLEET.public_ip = None

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        public_ip = getattr(_FLEET, "public_ip", None)
        if public_ip is not None and kwargs.get("subnet_id") and not kwargs.get("nics"):
            kwargs.setdefault("associate_public_ip", public_ip)
        return run_instances(self, *args, **kwargs)

    fleets.FleetsBackend.create_fleet = fleet
    instances.InstanceBackend.run_instances = run
    fleets.FleetsBackend._disco_public_ip = True


class _Server:
    """moto's application behind :class:`StrictEC2`, served by werkzeug in a thread (as ThreadedMotoServer does)."""

    def __init__(self, strict: StrictEC2) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        self.httpd: BaseWSGIServer = make_server("127.0.0.1", 0, strict, True, request_handler=MotoRequestHandler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.thread.join()


def client_at(service: str, url: str, region: str, access_key: str, secret_key: str) -> Any:
    """A boto3 client for the moto server at ``url`` (this one, or the local cloud's in its container)."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


@dataclass
class MotoServer:
    """moto's server behind the strict layer, on a free port of 127.0.0.1."""

    server: _Server
    strict: StrictEC2
    url: str
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls) -> MotoServer:
        # The Debian images the local cloud's moto has too (moto reads MOTO_AMIS_PATH when first imported).
        os.environ.setdefault("MOTO_AMIS_PATH", str(DEBIAN_AMIS))
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        _fleets_use_template_security_groups()
        _fleets_use_template_public_ip()
        strict = StrictEC2(DomainDispatcherApplication(create_backend_app), _zone_of_subnet, Networks())
        server = _Server(strict)
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        env = {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
        return cls(server=server, strict=strict, url=url, env=env)

    def client(self, service: str) -> Any:
        """A boto3 client for this server, with the fake credentials."""
        env = self.env
        return client_at(service, self.url, env["AWS_REGION"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])

    def _post(self, path: str) -> bytes:
        request = urllib.request.Request(self.url + path, method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def start_recording(self) -> None:
        """Forget the calls recorded so far and record from now on."""
        with self.strict.lock:
            self.strict.calls.clear()
            self.strict.services.clear()
            self.strict.requests.clear()

    def reset(self) -> None:
        """Forget every AWS resource, every recorded call, every client token and capacity refusal."""
        self._post("/moto-api/reset")
        self.strict.reset()

    # --- what the strict layer refuses or serves from now on (its state, under its lock) -----------------------

    def refuse_capacity(
        self,
        instance_types: Iterable[str] = (),
        zones: Iterable[str] = (),
        markets: Iterable[str] = ("spot",),
        code: str = "InsufficientInstanceCapacity",
    ) -> None:
        """From now on, no capacity for ``instance_types`` in ``zones`` (all when empty) in ``markets``, answered
        with ``code`` as AWS answers it."""
        with self.strict.lock:
            self.strict.refusals.append(Refusal(frozenset(instance_types), frozenset(zones), frozenset(markets), code))

    def allow_capacity(self) -> None:
        """Capacity everywhere again."""
        with self.strict.lock:
            self.strict.refusals.clear()

    def delay_profiles(self, seconds: float, at_least: int = 0) -> None:
        """EC2 refuses instance profiles created less than ``seconds`` ago (not propagated from IAM yet), and
        each new one at least ``at_least`` times whatever its age (so a test sees the retry however slow it is)."""
        with self.strict.lock:
            self.strict.profile_delay = seconds
            self.strict.profile_at_least = at_least

    def set_spot_prices(
        self, prices: dict[tuple[str, str], str], at: dt.datetime | None = None, product: str = LINUX
    ) -> None:
        """A price change at ``at`` (default now) for each (instance type, zone): its new spot price, e.g.
        ``{("m5.large", "us-east-1a"): "0.0350"}``."""
        when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        with self.strict.lock:
            for (instance_type, zone), price in prices.items():
                self.strict.spot_prices.setdefault((instance_type, zone, product), []).append((when, price))

    def linger_security_groups(self, deletions: int) -> None:
        """The next ``deletions`` DeleteSecurityGroup calls fail with DependencyViolation, as AWS answers while
        the network interfaces of just-terminated instances still exist."""
        with self.strict.lock:
            self.strict.lingering = deletions

    def calls(self) -> list[str]:
        """API actions received since the recording was last cleared, in order."""
        with self.strict.lock:
            return list(self.strict.calls)

    def api_calls(self) -> list[str]:
        """The same as ``service:Action`` (``ec2:RunInstances``), the names IAM policies use."""
        with self.strict.lock:
            pairs = zip(self.strict.services, self.strict.calls, strict=True)
            return [f"{service}:{action}" for service, action in pairs]

    def api_requests(self) -> list[ApiCall]:
        """Every action AWS would authorise since the recording was last cleared, with its parameters: the calls
        of :meth:`api_calls`, each followed by the actions it implies (:func:`_implied`)."""
        with self.strict.lock:
            return list(self.strict.requests)

    def delete_default_vpc(self) -> None:
        """Make the region one whose default VPC was deleted (subnets, internet gateway, then the VPC), as
        organisations do; :meth:`reset` brings it back."""
        ec2 = self.client("ec2")
        for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
            vpc_id = vpc["VpcId"]
            for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
                ec2.delete_subnet(SubnetId=subnet["SubnetId"])
            gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])
            for gateway in gateways["InternetGateways"]:
                ec2.detach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc_id)
                ec2.delete_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"])
            ec2.delete_vpc(VpcId=vpc_id)

    def custom_vpc(self, cidr: str = "10.20.0.0/16", zones: int = 2) -> tuple[str, list[str]]:
        """A non-default VPC with one subnet in each of the first ``zones`` zones: (vpc id, [subnet ids])."""
        ec2 = self.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        names = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])[:zones]
        base = cidr.split(".")
        subnets = [
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{base[0]}.{base[1]}.{index}.0/24", AvailabilityZone=zone)[
                "Subnet"
            ]["SubnetId"]
            for index, zone in enumerate(names)
        ]
        return vpc_id, subnets

    def call_counts(self) -> Counter[str]:
        return Counter(self.calls())

    def stop(self) -> None:
        self.server.stop()
