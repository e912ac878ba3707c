#!/usr/bin/env bash
# vLLM's own serving code as the test backend (tests/vllm_reference): install vLLM 0.33.0 from
# the vllm_server role's hash lock, then run the conformance suite against it (directly and
# through the real gateway), the differential test against the stand-in, and the lock's proof.
# Not a stage of its own in a full run: 40-molecule-roles runs it beside the role scenarios.
# Alone: tests/run-all.sh vllm-reference
set -euo pipefail
cd "$CCPROV_REPO"
bash tests/vllm_reference/install.sh
pytest -m reference -p no:cacheprovider tests/vllm_reference
