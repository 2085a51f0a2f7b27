#!/usr/bin/env bash
# make test's tiers as two streams side by side, each in its own order and stopping at its first failing tier:
#   checks:  lint, sanity, build, molecule (the scenarios one after the other)
#   pytest:  tests/unit, tests/playbooks, tests/e2e
# Every output line is prefixed with its stream's name and printed as it comes; each stream ends with one line
# (passed or FAILED, and its minutes), then the whole run with one. Exit status: non-zero when either stream failed.
# The two share nothing but the machine: moto servers on free ports, containers and clusters of their own names.
# DISCO_TEST_STREAMS=1 runs the two one after the other instead (a machine with one core, or to time each alone).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

make_cmd=${MAKE:-make}

stream() {  # name, make targets...; returns the stream's make status
  local name=$1 start=$SECONDS rc
  shift
  # make test did setup and images once before: -o keeps each stream from redoing them (two at once would race);
  # -j1 keeps a stream's tiers in their order even when the user's make was given -j.
  "$make_cmd" --no-print-directory -j1 -o setup -o venv -o collections -o images -o docker "$@" 2>&1 | sed -u "s/^/[$name] /"
  rc=${PIPESTATUS[0]}
  local took="$(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
  if [ "$rc" -eq 0 ]; then
    echo "[$name] stream passed in $took"
  else
    echo "[$name] stream FAILED (exit $rc) after $took"
  fi
  return "$rc"
}

status=0
if [ "${DISCO_TEST_STREAMS:-2}" = 1 ]; then
  stream checks lint sanity build molecule || status=1
  stream pytest pytest || status=1
else
  stream checks lint sanity build molecule & checks=$!
  stream pytest pytest & pytest=$!
  wait "$checks" || status=1
  wait "$pytest" || status=1
fi
[ "$status" -eq 0 ] && echo "make test: all tiers passed" || echo "make test: a stream failed (see its last lines above)"
exit "$status"
