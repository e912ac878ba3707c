#!/usr/bin/env bash
# Build the Debian 12 test-host image (or reuse it: it is tagged with a hash of its recipe).
# Debian 13's, for the workstation scenario's second host, is built beside the role scenarios
# (40-molecule-roles); the scenario that needs it waits for it (test_molecule_roles.py).
set -euo pipefail
cd "$CCPROV_REPO"
bash tests/hostbed/build-image.sh
