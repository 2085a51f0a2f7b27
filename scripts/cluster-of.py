# Copyright: disposable.disco developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print a configuration file's cluster name and whether it asks for the local cloud: `NAME true|false`.

For the shell scripts (local-cluster.sh, disco-suite.sh), before any playbook runs; the playbooks validate the
file. The name is disco_cluster_name (the original config.json has none: "disco"), as validation reads it.
"""

from __future__ import annotations

import sys

import yaml


def main(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    local_cloud = str(config.get("disco_local_cloud", False)).lower() == "true"
    print(config.get("disco_cluster_name") or "disco", str(local_cloud).lower())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
