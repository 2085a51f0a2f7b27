#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set the same tags on many EC2 resources with as few CreateTags calls as possible."""

from __future__ import annotations

# ruff: noqa: E402 - Ansible wants the documentation strings before the imports

DOCUMENTATION = r"""
---
module: ec2_tags_bulk
short_description: Set the same tags on many EC2 resources in one call
version_added: 0.1.0
description:
  - Reads the current tags of O(resource_ids) (one C(DescribeTags) call per 200 resources) and sends one
    C(CreateTags) call per 500 resources that lack some of O(tags) or have other values for them.
  - M(amazon.aws.ec2_tag) handles one resource per task, which costs two calls per instance for a large cluster.
  - Never removes a tag.
author:
  - disposable.disco developers (@disposable-disco)
options:
  resource_ids:
    description: Ids of the EC2 resources (instances, spot requests, security groups, ...) to tag.
    type: list
    elements: str
    required: true
  tags:
    description: The tags every resource should have; other tags are left alone.
    type: dict
    required: true
attributes:
  check_mode:
    support: full
    description: Reads the current tags and reports what would change.
  diff_mode:
    support: none
    description: No diff is returned.
  platform:
    support: full
    platforms: all
    description: Runs where the AWS API is reachable, normally the controller.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Tag freshly launched spot instances
  disposable.disco.ec2_tags_bulk:
    resource_ids: [i-0123456789abcdef0, i-0123456789abcdef1]
    tags:
      disposabledisco: mycluster
      disco-role: slave
"""

RETURN = r"""
tagged:
  description: Ids of the resources that were (or in check mode would be) tagged.
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
"""

import contextlib
from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.disposable.disco.plugins.module_utils.disco_ec2 import FILTER_CHUNK, chunks

with contextlib.suppress(ImportError):  # AnsibleAWSModule reports a missing botocore
    from botocore.exceptions import BotoCoreError, ClientError

CREATE_CHUNK = 500
# Just-launched instances may not be visible to CreateTags for a few seconds.
RETRY_CODES = ["InvalidInstanceID.NotFound", "InvalidID"]


def current_tags(client: Any, resource_ids: list[str], keys: list[str]) -> dict[str, dict[str, str]]:
    """The values of ``keys`` on each resource, from DescribeTags."""
    found: dict[str, dict[str, str]] = {resource_id: {} for resource_id in resource_ids}
    paginator = client.get_paginator("describe_tags")
    for ids in chunks(resource_ids, FILTER_CHUNK):
        filters = [{"Name": "resource-id", "Values": ids}, {"Name": "key", "Values": keys}]
        pages = AWSRetry.jittered_backoff()(paginator.paginate(Filters=filters).build_full_result)()
        for tag in pages.get("Tags", []):
            found.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag.get("Value", "")
    return found


def main() -> None:
    argument_spec = {
        "resource_ids": {"type": "list", "elements": "str", "required": True},
        "tags": {"type": "dict", "required": True},
    }
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    resource_ids = sorted(set(module.params["resource_ids"]))
    tags = {str(key): "" if value is None else str(value) for key, value in module.params["tags"].items()}
    if not resource_ids or not tags:
        module.exit_json(changed=False, tagged=[])

    client = module.client("ec2")
    try:
        existing = current_tags(client, resource_ids, sorted(tags))
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Failed to read the resources' tags")
    todo = [rid for rid in resource_ids if any(existing.get(rid, {}).get(k) != v for k, v in tags.items())]
    if todo and not module.check_mode:
        create = AWSRetry.jittered_backoff(catch_extra_error_codes=RETRY_CODES)(client.create_tags)
        for ids in chunks(todo, CREATE_CHUNK):
            try:
                create(Resources=ids, Tags=ansible_dict_to_boto3_tag_list(tags))
            except is_boto3_error_code(RETRY_CODES) as error:
                module.fail_json_aws(error, msg="Some resources do not exist (yet): tagging gave up after retries")
            except (BotoCoreError, ClientError) as error:  # pylint: disable=duplicate-except
                module.fail_json_aws(error, msg="Failed to tag the resources")
    module.exit_json(changed=bool(todo), tagged=todo)


if __name__ == "__main__":
    main()
