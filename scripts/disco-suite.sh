#!/usr/bin/env bash
# make disco-suite: Disco's own functional suite on a running cluster (playbooks/disco_suite.yml), module by
# module, with a table of the results.
#
#   scripts/disco-suite.sh [ansible-playbook options]     e.g. -e disco_suite_set=heavy, -e disco_suite_timeout=300
#
# Environment:
#   DISCO_SUITE_CONFIG  the cluster's configuration (default: DISCO_LOCAL_CONFIG, else examples/local.yml): its
#                       running master is found as client.yml finds it (in EC2 and over SSH, or the local cloud's
#                       container; role disco_cloud).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$here/.collections"

config=${DISCO_SUITE_CONFIG:-${DISCO_LOCAL_CONFIG:-examples/local.yml}}
[ -r "$config" ] || { echo "[disco-suite] no configuration at $config (DISCO_SUITE_CONFIG)" >&2; exit 1; }

exec ansible-playbook playbooks/disco_suite.yml -e "@$config" "$@"
