#!/usr/bin/env bash
# make disco-suite: Disco's own functional suite on a running cluster (playbooks/disco_suite.yml), module by
# module, with a table of the results.
#
#   scripts/disco-suite.sh [ansible-playbook options]     e.g. -e disco_suite_set=heavy, -e disco_suite_timeout=300
#
# Environment:
#   DISCO_SUITE_CONFIG  the cluster's configuration (default: DISCO_LOCAL_CONFIG, else examples/local.yml).
#                       With disco_local_cloud: true the master's container is found by its labels; otherwise the
#                       cluster's nodes come from inventory/aws_ec2.yml (DISCO_CLUSTER_NAME = its
#                       disco_cluster_name; credentials: the usual AWS chain) and are reached over SSH.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$here/.collections"

config=${DISCO_SUITE_CONFIG:-${DISCO_LOCAL_CONFIG:-examples/local.yml}}
[ -r "$config" ] || { echo "[disco-suite] no configuration at $config (DISCO_SUITE_CONFIG)" >&2; exit 1; }

read -r cluster local_cloud < <(python3 scripts/cluster-of.py "$config")

inventory=()
if [ "$local_cloud" != true ]; then
  export DISCO_CLUSTER_NAME="$cluster"
  inventory=(-i inventory/aws_ec2.yml)
fi
exec ansible-playbook "${inventory[@]}" playbooks/disco_suite.yml -e "@$config" "$@"
