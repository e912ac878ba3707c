#!/usr/bin/env bash
# The five-host site e2e (site.yml as ops run it) and its continuity module (changes and
# faults while sessions run), alone on the machine: the continuity rows measure latency.
set -euo pipefail
cd "$CCPROV_REPO"
export CONTAINERS_CONF="$CCPROV_REPO/tests/hostbed/containers.conf"
pytest -m hostbed -s -p no:cacheprovider tests/hostbed/test_site_e2e.py \
  tests/hostbed/test_site_e2e_continuity.py
