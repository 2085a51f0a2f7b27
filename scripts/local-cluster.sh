#!/usr/bin/env bash
# make local-cluster / make local-teardown: the local cloud (moto's EC2 API + one docker container per instance).
#
#   scripts/local-cluster.sh up   [ansible-playbook options]   launch or converge the cluster, run a smoke job,
#                                                              print the phase timings and the status
#   scripts/local-cluster.sh down [ansible-playbook options]   tear it down (containers, network, moto)
#
# Environment:
#   DISCO_LOCAL_CONFIG  the configuration (default examples/local.yml; it must set disco_local_cloud: true)
#   DISCO_SOURCES       a directory of Disco checkouts (disco, lager, goldrush, ...): Disco is built from them,
#                       offline. Unset: the master clones Disco and its dependencies from GitHub (needs internet).
#   DISCO_LOCAL_SMOKE   0 skips the smoke job (a word count on the master) after the launch
# Options after up/down go to ansible-playbook, e.g. --skip-tags disco, -e disco_localcloud_moto_keep=true, -v.
set -euo pipefail
shopt -s lastpipe

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$here/.collections"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in up | down) ;; *) usage ;; esac

config=${DISCO_LOCAL_CONFIG:-examples/local.yml}
[ -r "$config" ] || die "no configuration at $config (DISCO_LOCAL_CONFIG)"
command -v ansible-playbook >/dev/null 2>&1 || die "ansible-playbook is missing: run make setup first"
config_args=(-e "@$config")

# The cluster's name and whether the file asks for the local cloud; never a silent switch to AWS.
read -r cluster local_cloud < <(python3 scripts/cluster-of.py "$config")
[ "$local_cloud" = true ] || die "$config does not set disco_local_cloud: true; this script only runs the local cloud"

# ---------------------------------------------------------------------------------------------- timings
declare -A spent=()
phases=()

add_time() { # phase microseconds
  [ -n "${spent[$1]+set}" ] || phases+=("$1")
  spent[$1]=$((${spent[$1]:-0} + $2))
}

# ansible-playbook "$@", its output going through; the callback plugin disposable.disco.phases adds up its time by
# the phase each play names (disco_play_phase; disco_install's tasks are the Disco build) into a JSON file, read
# here into the timings. Sets playbook_rc.
timed_playbook() {
  local file name micros
  file=$(mktemp)
  set +e
  ANSIBLE_CALLBACKS_ENABLED="${ANSIBLE_CALLBACKS_ENABLED:+$ANSIBLE_CALLBACKS_ENABLED,}disposable.disco.phases" \
    DISCO_PHASES_FILE="$file" ansible-playbook "$@"
  playbook_rc=$?
  set -e
  while IFS=$'\t' read -r name micros; do
    add_time "$name" "$micros"
  done < <(python3 -c 'import json, sys
for name, seconds in json.load(open(sys.argv[1])).items():
    print(f"{name}\t{round(seconds * 1e6)}")' "$file" 2>/dev/null)
  rm -f "$file"
}

seconds() { printf '%d.%01d s' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }

print_timings() {
  local phase total=0
  printf '\n== local cluster %s: phase timings\n' "$cluster"
  for phase in "${phases[@]}"; do
    printf '  %-12s %10s\n' "$phase" "$(seconds "${spent[$phase]}")"
    total=$((total + spent[$phase]))
  done
  printf '  %-12s %10s\n' total "$(seconds "$total")"
}

# ---------------------------------------------------------------------------------------------- smoke job
master_container() {
  docker ps --filter "label=disposable-disco-cluster=$cluster" --filter "label=disposable-disco-role=master" \
    --format '{{.Names}}' | head -n 1
}

# A word count over raw:// inputs on the master, as disco: proves the master, the slaves and the node table.
smoke_job() {
  local master start
  master=$(master_container)
  [ -n "$master" ] || { log "no master container: no smoke job"; return 1; }
  if ! docker exec "$master" test -x /usr/bin/disco; then
    log "Disco is not installed on the master (configure ran without the Disco plays?): no smoke job"
    return 0
  fi
  docker exec -i "$master" tee /tmp/disco-smoke-job.py >/dev/null <<'EOF'
"""Smoke job of scripts/local-cluster.sh: a word count over raw:// inputs, checked against a local count.
Words are separated by commas: a raw:// input with blanks breaks Disco's shuffle index."""
import collections
import json

from disco.core import Job, result_iterator

LINES = ["the,quick,brown,fox,jumps,over,the,lazy,dog", "the,dog,sleeps", "a,fox,is,quick", "disco,on,the,dog"] * 4


def fun_map(line, params):
    for word in line.split(","):
        yield word, 1


def fun_reduce(entries, params):
    from disco.util import kvgroup

    for word, counts in kvgroup(sorted(entries)):
        yield word, sum(counts)


if __name__ == "__main__":
    job = Job(name="smoke").run(input=["raw://" + line for line in LINES], map=fun_map, reduce=fun_reduce, partitions=2)
    counts = dict(result_iterator(job.wait()))
    expected = collections.Counter(word for line in LINES for word in line.split(","))
    assert counts == dict(expected), (counts, expected)
    job.purge()
    print(json.dumps({"job": job.name, "words": sum(counts.values()), "distinct": len(counts)}))
EOF
  start=${EPOCHREALTIME/./}
  if docker exec "$master" su - disco -c 'python3 -W ignore /tmp/disco-smoke-job.py'; then
    add_time job $((${EPOCHREALTIME/./} - start))
    log "smoke job passed on $master"
  else
    add_time job $((${EPOCHREALTIME/./} - start))
    log "smoke job FAILED on $master"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------- sources
# Can Disco's sources be had? Checked before anything takes minutes (images, moto, the launch): DISCO_SOURCES must
# hold every checkout, or, without it, GitHub must answer. Not checked when the Disco plays are skipped.
REPOS="disco lager goldrush mochiweb folsom bear meck folsomite plists"
skips_disco() {
  local previous="" arg
  for arg in "$@"; do
    case $previous,$arg in
      --skip-tags,*disco* | *,--skip-tags=*disco*) return 0 ;;
    esac
    previous=$arg
  done
  return 1
}
check_sources() {
  local repo missing=""
  if [ -n "${DISCO_SOURCES:-}" ]; then
    for repo in $REPOS; do
      [ -d "$DISCO_SOURCES/$repo/.git" ] || [ -f "$DISCO_SOURCES/$repo/HEAD" ] || missing="$missing $repo"
    done
    [ -z "$missing" ] || die "DISCO_SOURCES=$DISCO_SOURCES lacks git checkouts of:$missing. It must hold one checkout per
repository ($REPOS) at the commits roles/disco_install/defaults/main.yml pins: clone them there (see
docs/local-cloud.md), or unset DISCO_SOURCES on a machine that reaches github.com."
  elif ! timeout 20 git ls-remote --heads https://github.com/discoproject/disco.git >/dev/null 2>&1; then
    die "Disco's sources cannot be had: DISCO_SOURCES is not set and github.com does not answer (git ls-remote
https://github.com/discoproject/disco.git). Either run on a machine with internet access (the master clones Disco
and its dependencies from GitHub), or export DISCO_SOURCES=/path/to/checkouts, a directory with one git checkout per
repository ($REPOS) at the pinned commits (docs/local-cloud.md), then make local-cluster again.
Or launch without Disco: scripts/local-cluster.sh up --skip-tags disco"
  fi
}

# ---------------------------------------------------------------------------------------------- main
if [ "$command" = up ] && ! skips_disco "$@"; then check_sources; fi
scripts/ensure-docker.sh
scripts/base-image.sh

case $command in
  up)
    extra=()
    if [ -n "${DISCO_SOURCES:-}" ]; then
      [ -d "$DISCO_SOURCES/disco" ] || die "DISCO_SOURCES=$DISCO_SOURCES holds no disco checkout"
      log "Disco is built from the checkouts in DISCO_SOURCES"
      extra+=(-e "disco_install_sources_dir=$(cd "$DISCO_SOURCES" && pwd)")
    else
      log "DISCO_SOURCES is not set: the master clones Disco and its dependencies from GitHub (needs internet)"
    fi
    log "launching cluster $cluster from $config"
    timed_playbook playbooks/launch.yml "${config_args[@]}" "${extra[@]}" "$@"
    [ "$playbook_rc" = 0 ] || {
      print_timings
      die "launch.yml failed (exit $playbook_rc)"
    }
    smoke_rc=0
    if [ "${DISCO_LOCAL_SMOKE:-1}" != 0 ]; then smoke_job || smoke_rc=$?; fi
    print_timings
    printf '\n== status\n'
    ansible-playbook playbooks/status.yml "${config_args[@]}" 2>&1 | awk '/=> *$/ {show = 1; next} /^$/ {show = 0} show'
    exit "$smoke_rc"
    ;;
  down)
    log "tearing cluster $cluster down ($config)"
    timed_playbook playbooks/teardown.yml "${config_args[@]}" "$@"
    print_timings
    exit "$playbook_rc"
    ;;
esac
