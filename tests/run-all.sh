#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need on a fresh Debian 12
# machine, then runs every stage in tests/stages/ in order, timing each.
# Run one stage: tests/run-all.sh 20-pytest
set -uo pipefail
cd "$(dirname "$0")/.."
export CCPROV_REPO=$PWD
export CCPROV_VENV=${CCPROV_VENV:-$PWD/.venv}
export PATH="$CCPROV_VENV/bin:$PWD/.cache/node/node_modules/.bin:$PATH"

stages=()
if [ $# -gt 0 ]; then
  for name in "$@"; do stages+=("tests/stages/${name%.sh}.sh"); done
else
  stages=(tests/stages/[0-9]*.sh)
fi

report=()
failed=0
passed=0
for stage in "${stages[@]}"; do
  name=$(basename "$stage" .sh)
  printf '\n===== stage %s =====\n' "$name"
  start=$SECONDS
  if bash "$stage"; then
    status=ok
    passed=$((passed + 1))
  else
    status=FAILED
    failed=$((failed + 1))
  fi
  report+=("$(printf '%-22s %-7s %5ds' "$name" "$status" $((SECONDS - start)))")
  # Later stages build on earlier ones (set-up, image): stop at the first failure.
  [ "$status" = ok ] || break
done

printf '\n===== stage timings =====\n'
printf '%s\n' "${report[@]}"
printf 'stages: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
