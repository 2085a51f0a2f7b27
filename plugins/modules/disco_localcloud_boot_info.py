#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the local cloud boots for each instance: the release of its AMI, its user data and key pair."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation strings before the imports

DOCUMENTATION = r"""
---
module: disco_localcloud_boot_info
short_description: Read what each instance of the local cloud boots with (AMI release, user data, key pair)
version_added: 0.1.0
description:
  - For each instance of O(instance_ids), reads the instance (C(DescribeInstances)), its AMI (C(DescribeImages)),
    its user data as EC2 holds it (C(DescribeInstanceAttribute) C(userData)) and the public key of its key pair
    (C(DescribeKeyPairs)).
  - The AMI's name decides the Debian release the local cloud runs the instance's container on (O(release_patterns));
    an AMI whose name matches no pattern (or that EC2 does not know) gets O(default_release).
  - Returns, per instance, the NoCloud seed (C(user-data), C(meta-data)) cloud-init processes in the container.
  - Changes nothing.
author:
  - disposable.disco developers (@disposable-disco)
options:
  instance_ids:
    description: The instances.
    type: list
    elements: str
    required: true
  release_patterns:
    description: Release name to the regular expression (Python, searched) its AMI names match.
    type: dict
    default: {bookworm: '^debian-12-', trixie: '^debian-13-'}
  default_release:
    description: Release of an instance whose AMI matches no pattern.
    type: str
    default: trixie
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read what the instances boot with
  disposable.disco.disco_localcloud_boot_info:
    instance_ids: [i-0123456789abcdef0]
    endpoint_url: http://127.0.0.1:5000
    region: us-east-1
  register: boot
"""

RETURN = r"""
instances:
  description: One entry per instance found, in the order of O(instance_ids).
  returned: always
  type: list
  elements: dict
  contains:
    instance_id: {description: The instance id., type: str, returned: always}
    image_id: {description: Its AMI id., type: str, returned: always}
    image_name: {description: The AMI's name (empty when EC2 does not know the AMI)., type: str, returned: always}
    release: {description: The release its container runs., type: str, returned: always}
    release_matched:
      description: Whether the AMI name matched a pattern (else the default release).
      type: bool
      returned: always
    key_name: {description: Its key pair's name (empty without one)., type: str, returned: always}
    hostname: {description: Its short private host name., type: str, returned: always}
    user_data: {description: Its user data (text)., type: str, returned: always}
    meta_data:
      description: NoCloud meta-data (instance id, host name, the key pair's public key).
      type: str
      returned: always
"""

import contextlib
from typing import Any

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.disposable.disco.plugins.module_utils.disco_localcloud import (
    DEFAULT_RELEASE_PATTERNS,
    boot_info,
)


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "instance_ids": {"type": "list", "elements": "str", "required": True},
            "release_patterns": {"type": "dict", "default": dict(DEFAULT_RELEASE_PATTERNS)},
            "default_release": {"type": "str", "default": "trixie"},
        },
        supports_check_mode=True,
    )
    ids = module.params["instance_ids"]
    patterns = module.params["release_patterns"]
    default = module.params["default_release"]
    if default not in patterns:
        module.fail_json(msg=f"default_release {default} is not one of release_patterns: {', '.join(sorted(patterns))}")
    client = module.client("ec2")
    result: list[dict[str, Any]] = []
    try:
        instances = []
        if ids:
            for reservation in client.describe_instances(InstanceIds=ids).get("Reservations", []):
                instances.extend(reservation.get("Instances", []))
        by_id = {instance["InstanceId"]: instance for instance in instances}
        image_ids = sorted({i["ImageId"] for i in instances if i.get("ImageId")})
        images: dict[str, Any] = {}
        for image_id in image_ids:  # one call per AMI: an unknown id fails a call for all
            try:
                for image in client.describe_images(ImageIds=[image_id]).get("Images", []):
                    images[image["ImageId"]] = image
            except ClientError:
                pass  # a deregistered or made-up AMI: the default release
        keys: dict[str, str] = {}
        for key_name in sorted({i["KeyName"] for i in instances if i.get("KeyName")}):
            try:
                pairs = client.describe_key_pairs(KeyNames=[key_name], IncludePublicKey=True).get("KeyPairs", [])
                keys[key_name] = (pairs[0].get("PublicKey") or "") if pairs else ""
            except ClientError:
                keys[key_name] = ""
        for instance_id in ids:
            instance = by_id.get(instance_id)
            if instance is None:
                continue
            attribute = client.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
            result.append(
                boot_info(
                    instance,
                    images.get(instance.get("ImageId") or ""),
                    (attribute.get("UserData") or {}).get("Value"),
                    keys.get(instance.get("KeyName") or ""),
                    patterns,
                    default,
                )
            )
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Cannot read the local cloud's instances")
    module.exit_json(changed=False, instances=result)


if __name__ == "__main__":
    main()
