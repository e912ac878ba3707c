#!/usr/bin/env bash
# Build the test-host images (or reuse them: each is tagged with a hash of its recipe):
# Debian 12, and Debian 13 for the workstation scenario's second host.
set -euo pipefail
cd "$CCPROV_REPO"
bash tests/hostbed/build-image.sh
bash tests/hostbed/build-image.sh trixie
