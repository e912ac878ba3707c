#!/usr/bin/env bash
# Build the test-host image (or reuse it: it is tagged with a hash of its recipe).
set -euo pipefail
cd "$CCPROV_REPO"
bash tests/hostbed/build-image.sh
