# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The EC2 model of a disposable.disco cluster: how its resources are named and tagged, what each group asks for.

Pure functions, no AWS call. The cluster's EC2 side is split by concern, as amazon.aws splits its own
module_utils: this file is the shared model; :mod:`disco_ec2_observe` turns EC2's answers into the cluster's
nodes; :mod:`disco_ec2_plan` says what is missing per group and what goes; :mod:`disco_ec2_report` puts both
into words. The modules ``disco_ec2_cluster_info``, ``disco_ec2_fleet`` and ``ec2_tags_bulk`` make the calls.

The state lives only in EC2 tags: every instance, volume and launch template of a cluster carries
``<tag_key>=<cluster name>``, ``disco-role`` (master or slave) and ``disco-group`` (the slave group; ``master``
for the master) from the moment it exists (TagSpecifications at creation). Spot requests made by versions before
0.2 (RequestSpotInstances) are still found by their tags, and cancelled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

# The options naming a cluster's resources, in every module that finds them by tag (doc fragment
# disposable.disco.cluster).
CLUSTER_OPTIONS: dict[str, dict[str, Any]] = {
    "cluster_name": {"type": "str", "required": True},
    "tag_key": {"type": "str", "required": True, "no_log": False},
}

TAG_ROLE = "disco-role"
TAG_GROUP = "disco-group"
TAG_NAME = "Name"
# On slaves: the address Ansible uses to reach the master, for SSH ProxyJump from the aws_ec2 inventory.
TAG_JUMP = "disco-jump-host"
# On slaves: the master's instance id, the name its host key is known by (HostKeyAlias) on the jump.
TAG_JUMP_ID = "disco-jump-host-id"
# On security groups this project created (and so may delete).
TAG_CREATED_BY = "disco-created-by"
CREATED_BY = "disposable.disco"

MASTER = "master"
SLAVE = "slave"
MASTER_GROUP = "master"
SPOT = "spot"
ON_DEMAND = "on-demand"

ALIVE_STATES = frozenset({"pending", "running"})
GONE_STATES = frozenset({"terminated"})
LIVE_REQUEST_STATES = frozenset({"open", "active"})
# Filter values per call (AWS caps the values of one filter).
FILTER_CHUNK = 200
# Resource ids per TerminateInstances or CreateTags call (AWS: up to 1000).
IDS_PER_CALL = 1000
# IMDSv2 token responses travel one network hop: Disco's workers run as processes on the instance itself, so
# nothing on a node sits behind another hop (a container on a node would, and gets no token, which is the point).
METADATA_HOP_LIMIT = 1
# Fleet errors that mean "no spot capacity here": the override is skipped, the others are used.
CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientCapacity",
        "capacity-not-available",
        "MaxSpotInstanceCountExceeded",
        "SpotMaxPriceTooLow",
        "UnfulfillableCapacity",
    }
)


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """Split a list into lists of at most ``size`` items."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """boto3's ``[{Key, Value}]`` as a plain dict."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """A plain dict as boto3's ``[{Key, Value}]``, sorted by key."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def iso(value: Any) -> str:
    """A boto3 timestamp (or anything) as an ISO string; empty for None."""
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def group_key(role: str, group: str) -> str:
    """One string per node group: ``master`` or ``slave/<group>``."""
    return MASTER if role == MASTER else f"{SLAVE}/{group}"


def node_name(cluster_name: str, role: str, group: str) -> str:
    """The ``Name`` tag: what the EC2 console shows."""
    return f"{cluster_name}-master" if role == MASTER else f"{cluster_name}-{group}"


def base_tags(tag_key: str, cluster_name: str, role: str, group: str) -> dict[str, str]:
    """The tags every instance, volume and launch template of a node group carries."""
    return {
        tag_key: cluster_name,
        TAG_ROLE: role,
        TAG_GROUP: MASTER_GROUP if role == MASTER else group,
        TAG_NAME: node_name(cluster_name, role, group),
    }


def user_data(cluster_name: str, role: str, group: str, admin_keys: list[str] | tuple[str, ...] = ()) -> str:
    """The nodes' user data (plain text): a cloud-config naming the node's cluster, role and group; no secret.

    ``admin_keys`` (the cluster's public MGMT keys) become ``ssh_authorized_keys``, which cloud-init gives the
    image's default user (``admin`` on Debian's images): a cluster launched without an EC2 key pair is reachable.
    Each key is one JSON-quoted line (JSON strings are YAML), so no key text can change the document's shape.
    """
    keys = "".join(f"  - {json.dumps(key)}\n" for key in admin_keys)
    return (
        "#cloud-config\n"
        "# disposable.disco node; Ansible configures the rest over SSH.\n"
        + (f"ssh_authorized_keys:\n{keys}" if keys else "")
        + "write_files:\n"
        "  - path: /etc/disposable-disco/node\n"
        "    permissions: '0644'\n"
        "    content: |\n"
        f"      cluster={cluster_name}\n"
        f"      role={role}\n"
        f"      group={MASTER_GROUP if role == MASTER else group}\n"
    )


def user_data_b64(cluster_name: str, role: str, group: str, admin_keys: list[str] | tuple[str, ...] = ()) -> str:
    """:func:`user_data` base64-encoded, as launch templates want it."""
    return base64.b64encode(user_data(cluster_name, role, group, admin_keys).encode()).decode()


def instance_types_of(entry: dict[str, Any]) -> list[str]:
    """A group's instance types, in the order given: ``instance_types``, else the single ``instance_type``."""
    types = entry.get("instance_types") or []
    if isinstance(types, str):
        types = [types]
    if not types and entry.get("instance_type"):
        types = [entry["instance_type"]]
    return list(types)


def desired_groups(master: dict[str, Any] | None, slave_groups: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The node groups the configuration asks for, master first, each with its instance types in order."""
    groups = []
    if master is not None:
        groups.append(
            {
                "role": MASTER,
                "group": MASTER_GROUP,
                "count": 1,
                "instance_types": instance_types_of(master),
                "max_price": master.get("max_price"),
                "market": master.get("market") or SPOT,
                "multiplier": master.get("multiplier"),
            }
        )
    for group in slave_groups or []:
        groups.append(
            {
                "role": SLAVE,
                "group": group["name"],
                "count": int(group.get("count") or 0),
                "instance_types": instance_types_of(group),
                "max_price": group.get("max_price"),
                "market": SPOT,
                "multiplier": group.get("multiplier"),
            }
        )
    return groups


def launch_template_data(
    launch: dict[str, Any],
    image_id: str,
    key_name: str | None,
    security_groups: list[str],
    public_ip: bool = True,
    instance_profile: str | None = None,
) -> dict[str, Any]:
    """The launch template of one node group: AMI, key, network interface, user data, instance profile, tags.

    The instance metadata service requires IMDSv2 (session tokens) with a hop limit of :data:`METADATA_HOP_LIMIT`.
    No market options: EC2 Fleet takes the market from its own TargetCapacitySpecification (and AWS refuses
    spot options inside a template used by a fleet). Shutdown from inside the instance terminates it.
    """
    data: dict[str, Any] = {
        "ImageId": image_id,
        "UserData": base64.b64encode(launch["user_data"].encode()).decode(),
        "InstanceInitiatedShutdownBehavior": "terminate",
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpEndpoint": "enabled",
            "HttpPutResponseHopLimit": METADATA_HOP_LIMIT,
        },
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tag_list(launch["tags"])},
            {"ResourceType": "volume", "Tags": tag_list(launch["tags"])},
        ],
        "NetworkInterfaces": [network_interface(security_groups, public_ip)],
    }
    if key_name:
        data["KeyName"] = key_name
    if instance_profile:
        data["IamInstanceProfile"] = {"Name": instance_profile}
    return data


def network_interface(security_groups: list[str], public_ip: bool) -> dict[str, Any]:
    """The primary network interface: the groups (ids: AWS takes names only in a default VPC, and groups go on the
    interface when a template has one) and whether it gets a public IPv4 address. No subnet: each EC2 Fleet
    override names the subnet the instance starts in."""
    names = [group for group in security_groups if not group.startswith("sg-")]
    if names:
        raise ValueError(f"security groups must be given as sg- ids, got {', '.join(names)}")
    interface: dict[str, Any] = {
        "DeviceIndex": 0,
        "AssociatePublicIpAddress": bool(public_ip),
        "DeleteOnTermination": True,
    }
    if security_groups:
        interface["Groups"] = sorted(security_groups)
    return interface


def launch_template_name(tag_key: str, cluster_name: str, group: str, data: dict[str, Any]) -> str:
    """``<tag_key>-<cluster>-<group>-<hash of the template data>``: a changed group gets a new template."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
    return re.sub(r"[^A-Za-z0-9().\-/_]", "-", f"{tag_key}-{cluster_name}-{group}-{digest}")[:128]


# Debian's official cloud images (https://wiki.debian.org/Cloud/AmazonEC2Image): published by this AWS account,
# named debian-<release>-<amd64|arm64>-<date>-<build>.
DEBIAN_OWNER = "136693071363"
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}


def is_ami_id(image: str | None) -> bool:
    return bool(image) and str(image).startswith("ami-")


def architecture_of(instance_type: dict[str, Any]) -> str:
    """The architecture of one DescribeInstanceTypes entry: x86_64 when it runs it, else its first one."""
    supported = (instance_type.get("ProcessorInfo") or {}).get("SupportedArchitectures") or []
    return "x86_64" if "x86_64" in supported or not supported else supported[0]


def pick_image(images: list[dict[str, Any]], release: str, architecture: str) -> dict[str, Any] | None:
    """The newest available image of ``release`` (``debian-13``) for ``architecture``, from ec2_ami_info's list."""
    prefix = f"{release}-{DEBIAN_ARCH.get(architecture, architecture)}-"
    fitting = [
        image
        for image in images
        if str(image.get("name", "")).startswith(prefix)
        and image.get("architecture") == architecture
        and image.get("state", "available") == "available"
    ]
    return max(fitting, key=lambda image: (str(image.get("creation_date", "")), image["image_id"]), default=None)
