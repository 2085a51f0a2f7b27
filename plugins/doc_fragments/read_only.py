# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes of the collection's modules that only read: the read-only EC2 modules (cluster_info, network_info,
price_info: DOCUMENTATION) and cluster_config (CONTROLLER), which differ only in where they run."""

from __future__ import annotations

_READS_ONLY = r"""
attributes:
  check_mode:
    support: full
    description: Only reads.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
    platforms: all
"""


class ModuleDocFragment:
    DOCUMENTATION = _READS_ONLY + "    description: Runs where the AWS API is reachable, normally the controller.\n"

    CONTROLLER = _READS_ONLY + "    description: Runs on the controller.\n"
