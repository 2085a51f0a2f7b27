#!/usr/bin/env bash
# Run `molecule test` for every scenario under molecule/ (or for the scenarios named as arguments), then print one
# summary line. Two runs of one scenario at once would fight over its containers and its state: each scenario holds
# a lock while it runs (flock on disposable-disco-molecule-<name>.lock in $TMPDIR or /tmp), so a second run waits, saying so.
# A scenario that needs something from outside lists the environment variables it needs in molecule/<name>/REQUIRES
# (one "NAME  why/how to set it" per line); when one is unset the scenario is reported SKIPPED, loudly, never passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

passed=0 failed=0 skipped=0
failures=() skips=()
configs=()
if [ $# -gt 0 ]; then
  for name in "$@"; do
    if [ ! -f "molecule/$name/molecule.yml" ]; then
      echo "molecule-all.sh: no scenario '$name' (molecule/$name/molecule.yml)" >&2
      exit 2
    fi
    configs+=("molecule/$name/molecule.yml")
  done
else
  configs=(molecule/*/molecule.yml)
fi
for config in "${configs[@]}"; do
  [ -e "$config" ] || continue
  dir=$(dirname "$config")
  scenario=$(basename "$dir")
  missing=""
  if [ -f "$dir/REQUIRES" ]; then
    while read -r var why; do
      case "$var" in ""|\#*) continue ;; esac
      if [ -z "${!var:-}" ]; then missing="$var ($why)"; break; fi
    done < "$dir/REQUIRES"
  fi
  if [ -n "$missing" ]; then
    echo "=================================================================="
    echo "SKIPPED molecule scenario '$scenario': $missing is not set"
    echo "=================================================================="
    skipped=$((skipped + 1)); skips+=("$scenario")
    continue
  fi
  echo "== molecule test -s $scenario"
  lock="${TMPDIR:-/tmp}/disposable-disco-molecule-$scenario.lock"
  exec 9>"$lock"
  if ! flock -n 9; then
    echo "== molecule scenario '$scenario' is running elsewhere on this machine: waiting for it ($lock)"
    flock 9
  fi
  start=$(date +%s)
  if molecule test -s "$scenario" 9>&-; then
    passed=$((passed + 1))
    echo "== molecule scenario '$scenario' passed in $(( $(date +%s) - start )) s"
  else
    failed=$((failed + 1)); failures+=("$scenario")
    echo "== molecule scenario '$scenario' FAILED after $(( $(date +%s) - start )) s"
  fi
  exec 9>&-
done

summary="molecule: $passed passed, $failed failed, $skipped skipped"
[ ${#failures[@]} -eq 0 ] || summary="$summary (failed: ${failures[*]})"
[ ${#skips[@]} -eq 0 ] || summary="$summary (skipped: ${skips[*]})"
echo "$summary"
[ "$failed" -eq 0 ]
