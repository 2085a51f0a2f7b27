#!/usr/bin/env bash
# Run `molecule test` for every scenario under molecule/, then print one summary line.
# A scenario that needs something from outside lists the environment variables it needs in molecule/<name>/REQUIRES
# (one "NAME  why/how to set it" per line); when one is unset the scenario is reported SKIPPED, loudly, never passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

passed=0 failed=0 skipped=0
failures=() skips=()
for config in molecule/*/molecule.yml; do
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
  start=$(date +%s)
  if molecule test -s "$scenario"; then
    passed=$((passed + 1))
    echo "== molecule scenario '$scenario' passed in $(( $(date +%s) - start )) s"
  else
    failed=$((failed + 1)); failures+=("$scenario")
    echo "== molecule scenario '$scenario' FAILED after $(( $(date +%s) - start )) s"
  fi
done

summary="molecule: $passed passed, $failed failed, $skipped skipped"
[ ${#failures[@]} -eq 0 ] || summary="$summary (failed: ${failures[*]})"
[ ${#skips[@]} -eq 0 ] || summary="$summary (skipped: ${skips[*]})"
echo "$summary"
[ "$failed" -eq 0 ]
