# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options that name a cluster's EC2 resources (cluster_info, fleet): its name and the project's tag key."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  cluster_name:
    description: The cluster's name, the value of the O(tag_key) tag on all its resources.
    type: str
    required: true
  tag_key:
    description: The tag key that marks the project's resources.
    type: str
    required: true
"""
