#!/usr/bin/env bash
# The test bed's self-tests and every role's molecule scenarios, with independent work run
# beside them, one part after another: a scenario spends much of its time waiting on its
# container (systemd, pip and apt inside it), so the CPU has room (measured: the scenarios
# took 961 s alone, 1051 s with the vLLM reference tests beside, which took 240 s alone).
# Beside, in order: the Debian 13 test-host image (the workstation scenario waits for it,
# tests/hostbed/test_molecule_roles.py), the vLLM reference tests, lint, the collection check.
# The site e2e (45) runs after all of it, alone: its continuity rows measure latency.
# Each part alone: tests/run-all.sh vllm-reference | lint | collection
set -euo pipefail
cd "$CCPROV_REPO"
export CONTAINERS_CONF="$CCPROV_REPO/tests/hostbed/containers.conf"
beside_log=$(mktemp)
trap 'rm -f "$beside_log"' EXIT
beside() {
  local failed=0 part start
  for part in "tests/hostbed/build-image.sh trixie" tests/stages/vllm-reference.sh \
    tests/stages/lint.sh tests/stages/collection.sh; do
    start=$SECONDS
    printf '\n----- beside: %s -----\n' "$part"
    # shellcheck disable=SC2086  # the part's arguments are split on purpose
    if ! bash $part; then
      failed=1
      printf -- '----- beside: %s FAILED\n' "$part"
    fi
    printf -- '----- beside: %s took %ss\n' "$part" $((SECONDS - start))
  done
  return "$failed"
}
beside >"$beside_log" 2>&1 &
beside_pid=$!
roles=0
pytest -m hostbed -s -p no:cacheprovider tests/hostbed/test_molecule_roles.py || roles=$?
beside_status=0
wait "$beside_pid" || beside_status=$?
printf '\n===== run beside the role scenarios =====\n'
cat "$beside_log"
grep -- '^----- beside: .* took ' "$beside_log" || true
[ "$roles" -eq 0 ] && [ "$beside_status" -eq 0 ]
