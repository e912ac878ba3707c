#!/usr/bin/env bash
# The test bed's self-tests, then every role's molecule scenarios, on hosts built here.
set -euo pipefail
cd "$CCPROV_REPO"
export CONTAINERS_CONF="$CCPROV_REPO/tests/hostbed/containers.conf"
pytest -m hostbed -s -p no:cacheprovider tests/hostbed
