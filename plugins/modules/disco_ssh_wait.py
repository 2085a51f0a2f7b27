#!/usr/bin/python
# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the disposable.disco.disco_ssh_wait action (the work is done by the action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: disco_ssh_wait
short_description: Wait until nodes answer SSH, printing who is still silent
version_added: 0.1.0
description:
  - Runs C(ssh -o BatchMode=yes ... true) from the controller against every node of O(hosts) at once, again every
    O(interval) seconds for the nodes that did not answer, until all answered or O(timeout) seconds passed.
  - After each poll it prints one line with the nodes still silent.
  - Uses each node's own SSH options (its C(ansible_ssh_common_args) in O(hosts)), so a jump host
    and the host key options apply as they do for Ansible; with C(StrictHostKeyChecking=accept-new) the first
    answer records the node's host key.
  - The key is the host's C(ansible_ssh_private_key_file), else ansible-playbook's C(--private-key), else ssh's
    own defaults and agent. At most 64 ssh processes run at once.
  - Never fails by itself. The nodes that stayed silent and those whose host key ssh refused are returned, for the
    caller's policy.
author:
  - disposable.disco developers (@disposable-disco)
options:
  hosts:
    description:
      - The nodes to reach, each as its inventory variables; these are read.
      - C(instance_id) (or C(inventory_hostname)), the node's name in the results; C(ansible_host), the address;
        C(ansible_port), C(ansible_user), C(ansible_ssh_private_key_file) when set; C(ansible_ssh_common_args),
        more ssh options split as a shell would (a jump host, the host key options); C(disco_role) for the
        progress lines and O(overrides).
    type: list
    elements: dict
    required: true
  overrides:
    description:
      - Variables put over a host's own, by its role (C(master), C(slave)) or its name (the name wins).
    type: dict
    default: {}
  timeout:
    description: Seconds to keep trying.
    type: int
    default: 600
  interval:
    description: Seconds from one poll to the next.
    type: int
    default: 10
  connect_timeout:
    description: ssh's C(ConnectTimeout) of each try, in seconds.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: Connects only; changes nothing but the known_hosts file the options name.
  diff_mode:
    support: none
    description: No diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller, which needs the OpenSSH client.
"""

EXAMPLES = r"""
- name: Wait for the nodes to answer SSH
  disposable.disco.disco_ssh_wait:
    hosts:
      - {instance_id: i-0123456789abcdef0, ansible_host: 203.0.113.10, ansible_user: admin, disco_role: master}
    timeout: 300
  register: contact
"""

RETURN = r"""
answered:
  description: Names of the nodes that answered, in the order they did.
  returned: always
  type: list
  elements: str
silent:
  description: Names of the nodes still silent after O(timeout) seconds.
  returned: always
  type: list
  elements: str
refused:
  description: Names of the nodes whose host key ssh refused (a changed key of a known host); not retried.
  returned: always
  type: list
  elements: str
errors:
  description: For each silent or refused node, the last line ssh wrote.
  returned: always
  type: dict
elapsed:
  description: Seconds the wait took.
  returned: always
  type: float
polls:
  description: Number of polls made.
  returned: always
  type: int
"""
