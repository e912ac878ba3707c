#!/usr/bin/env bash
# The test bed's self-tests and every role's molecule scenarios, with the vLLM reference tests
# (tests/stages/vllm-reference.sh) running beside them: a scenario spends most of its time
# waiting on its container (systemd, pip, apt inside it), the reference on the CPU, so together
# they keep both cores busy (stage 25 alone took 240 s in the last full run, role scenarios
# 961 s). The site e2e (45) runs after both, alone: its continuity rows measure latency.
set -euo pipefail
cd "$CCPROV_REPO"
export CONTAINERS_CONF="$CCPROV_REPO/tests/hostbed/containers.conf"
reference_log=$(mktemp)
trap 'rm -f "$reference_log"' EXIT
start=$SECONDS
bash tests/stages/vllm-reference.sh >"$reference_log" 2>&1 &
reference=$!
roles=0
pytest -m hostbed -s -p no:cacheprovider tests/hostbed/test_molecule_roles.py || roles=$?
reference_status=0
wait "$reference" || reference_status=$?
printf '\n----- vllm-reference (run beside the above; %ss in all) -----\n' $((SECONDS - start))
cat "$reference_log"
[ "$roles" -eq 0 ] && [ "$reference_status" -eq 0 ]
