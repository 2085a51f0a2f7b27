# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local cloud's view of an instance: which Debian release its AMI is, and the NoCloud seed it boots with.

Pure functions, no AWS call; the module ``disco_localcloud_boot_info`` makes the calls.
"""

from __future__ import annotations

import base64
import re
from typing import Any

# Image name patterns of Debian's official AMIs (debian-12-amd64-20240717-1811, debian-13-arm64-...), per release.
DEFAULT_RELEASE_PATTERNS = {"bookworm": r"^debian-12-", "trixie": r"^debian-13-"}


def release_of_image(name: str | None, patterns: dict[str, str], default: str) -> tuple[str, bool]:
    """The release whose pattern the image name matches, and whether one matched (else ``default``, False)."""
    for release, pattern in sorted(patterns.items()):
        if name and re.search(pattern, name):
            return release, True
    return default, False


def decode_user_data(value: str | None) -> str:
    """DescribeInstanceAttribute's ``UserData.Value`` (base64, absent when the instance has none) as text."""
    if not value:
        return ""
    return base64.b64decode(value).decode("utf-8", errors="replace")


def meta_data(instance_id: str, hostname: str, public_keys: list[str]) -> str:
    """NoCloud meta-data (YAML) as EC2's metadata service gives it to cloud-init: id, host name, key pair."""
    lines = [f"instance-id: {instance_id}", f"local-hostname: {hostname}"]
    if public_keys:
        lines.append("public-keys:")
        lines.extend(f"  - {key.strip()}" for key in public_keys)
    return "\n".join(lines) + "\n"


def boot_info(
    instance: dict[str, Any],
    image: dict[str, Any] | None,
    user_data_b64: str | None,
    public_key: str | None,
    patterns: dict[str, str],
    default: str,
) -> dict[str, Any]:
    """What the local cloud needs to start the container of one instance."""
    image_name = (image or {}).get("Name") or ""
    release, matched = release_of_image(image_name, patterns, default)
    hostname = (instance.get("PrivateDnsName") or instance["InstanceId"]).split(".")[0]
    return {
        "instance_id": instance["InstanceId"],
        "image_id": instance.get("ImageId") or "",
        "image_name": image_name,
        "release": release,
        "release_matched": matched,
        "key_name": instance.get("KeyName") or "",
        "hostname": hostname,
        "user_data": decode_user_data(user_data_b64),
        "meta_data": meta_data(instance["InstanceId"], hostname, [public_key] if public_key else []),
    }
