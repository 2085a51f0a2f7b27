#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the disposable.disco.cluster_config action (the work is done by the action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_config
short_description: Validate a disposable.disco cluster configuration and export it as facts
version_added: 0.1.0
description:
  - Reads the play's variables, both the native C(disco_*) settings and the original disposabledisco C(config.json)
    keys (C(AMI), C(NUM_SLAVES), C(MAX_BID), ...), which work as they are.
  - Checks every value and collects every problem, each message naming the field as the user wrote it and the
    expected form. Secrets (AWS keys, C(POST_INIT)) are never repeated in a message.
  - Returns the problems in RV(errors) rather than failing, so that the task can run with C(no_log) (its facts hold
    the credentials) while a following task prints the problems. The role M(disposable.disco.disco) does exactly that.
  - Runs on the controller only and makes no AWS call.
author:
  - disposable.disco developers (@disposable-disco)
options: {}
notes:
  - Call it from the role C(disposable.disco.disco), whose defaults it compares with legacy keys (a legacy key
    wins over a native default; a legacy key and a different explicit native value are an error).
extends_documentation_fragment:
  - disposable.disco.read_only
"""

EXAMPLES = r"""
- name: Validate the configuration
  disposable.disco.cluster_config:
  register: disco_config
  no_log: true

- name: Refuse an invalid configuration
  ansible.builtin.fail:
    msg: "{{ disco_config.errors }}"
  when: disco_config.errors | length > 0
"""

RETURN = r"""
errors:
  description: One message per problem, each starting with the field's name; empty when the configuration is valid.
  returned: always
  type: list
  elements: str
  sample: ["NUM_SLAVES: must be a whole number from 0 to 5000, got -3"]
ansible_facts:
  description: The normalised configuration, set only when it is valid.
  returned: when valid
  type: complex
  contains:
    disco_cluster:
      description: The cluster (name, tag key, region, AMI, master, slave groups, packages, ...), without credentials.
      type: dict
      returned: when valid
    disco_cluster_aws:
      description: C(access_key) and C(secret_key), or null for the default AWS credential chain.
      type: dict
      returned: when valid
"""
