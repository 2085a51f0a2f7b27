#!/usr/bin/env bash
# make test's tiers as two streams side by side, each in its own order and stopping at its first failing tier:
#   checks:  lint, sanity, build, molecule (every scenario but those that build Disco), unit, playbooks
#   disco:   e2e, molecule (the scenarios that build Disco: those whose REQUIRES names DISCO_SOURCES)
# The two streams hold about the same work (each about half of a whole run), so neither waits alone for long at
# the end: the end-to-end test and the disco scenario, the two longest tiers, are the disco stream.
# Every output line is prefixed with its stream's name and printed as it comes; each tier ends with a line (passed
# or FAILED, and its seconds), each stream with one, then the whole run with one. Exit status: non-zero when either
# stream failed. The two share nothing but the machine: moto servers on free ports, containers and clusters of their
# own names, one lock per molecule scenario (scripts/molecule-all.sh).
# DISCO_TEST_STREAMS=1 runs the two one after the other instead (a machine with one core, or to time each alone).
# The two streams' lines interleave, and a CI log may keep only its end: so the run ends with every tier's result
# line and, for a stream that failed, its last DISCO_TEST_TAIL lines (default 120) again, whole.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

logs=$(mktemp -d "${TMPDIR:-/tmp}/disco-test-streams.XXXXXX") || exit 1
trap 'rm -rf "$logs"' EXIT

make_cmd=${MAKE:-make}

# Molecule scenarios by stream: the ones that need Disco's sources go with the end-to-end test.
checks_scenarios=() disco_scenarios=()
for config in molecule/*/molecule.yml; do
  [ -e "$config" ] || continue
  dir=$(dirname "$config")
  if [ -f "$dir/REQUIRES" ] && grep -q '^DISCO_SOURCES\b' "$dir/REQUIRES"; then
    disco_scenarios+=("$(basename "$dir")")
  else
    checks_scenarios+=("$(basename "$dir")")
  fi
done

tier() {  # stream name, target, [make variable assignment]; returns the target's make status
  local name=$1 target=$2 start=$SECONDS rc label=$2
  shift 2
  [ $# -gt 0 ] && label="$target ${1#*=}"
  # make test did setup and images once before: -o keeps each tier from redoing them (two at once would race);
  # -j1: a tier is one target, its recipe in order even when the user's make was given -j.
  "$make_cmd" --no-print-directory -j1 -o setup -o venv -o collections -o images -o docker "$target" "$@" 2>&1 \
    | sed -u "s/^/[$name] /" | tee -a "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then
    echo "[$name] tier $label passed in $((SECONDS - start)) s"
  else
    echo "[$name] tier $label FAILED (exit $rc) after $((SECONDS - start)) s"
  fi | tee -a "$logs/$name.log" "$logs/tiers.log"
  return "$rc"
}

finish() {  # stream name, start, status
  local took="$(((SECONDS - $2) / 60)) min $(((SECONDS - $2) % 60)) s"
  if [ "$3" -eq 0 ]; then echo "[$1] stream passed in $took"; else echo "[$1] stream FAILED after $took"; fi \
    | tee -a "$logs/tiers.log"
  [ "$3" -eq 0 ] || touch "$logs/$1.failed"
  return "$3"
}

checks_stream() {
  local start=$SECONDS rc=0
  tier checks lint && tier checks sanity && tier checks build \
    && { [ ${#checks_scenarios[@]} -eq 0 ] || tier checks molecule "MOLECULE_SCENARIOS=${checks_scenarios[*]}"; } \
    && tier checks unit && tier checks playbooks || rc=1
  finish checks "$start" "$rc"
}

disco_stream() {
  local start=$SECONDS rc=0
  tier disco e2e \
    && { [ ${#disco_scenarios[@]} -eq 0 ] || tier disco molecule "MOLECULE_SCENARIOS=${disco_scenarios[*]}"; } || rc=1
  finish disco "$start" "$rc"
}

status=0
if [ "${DISCO_TEST_STREAMS:-2}" = 1 ]; then
  checks_stream || status=1
  disco_stream || status=1
else
  checks_stream & checks=$!
  disco_stream & disco=$!
  wait "$checks" || status=1
  wait "$disco" || status=1
fi
for name in checks disco; do
  [ -e "$logs/$name.failed" ] || continue
  echo "== make test: the last ${DISCO_TEST_TAIL:-120} lines of the failed stream '$name' =="
  tail -n "${DISCO_TEST_TAIL:-120}" "$logs/$name.log"
done
echo "== make test: tiers =="
cat "$logs/tiers.log"
[ "$status" -eq 0 ] && echo "make test: all tiers passed" || echo "make test: a stream failed (its last lines are just above)"
exit "$status"
