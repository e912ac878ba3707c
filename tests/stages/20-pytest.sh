#!/usr/bin/env bash
# Unit, switcher, CLI and end-to-end tests that need no test hosts.
set -euo pipefail
cd "$CCPROV_REPO"
pytest -m "not hostbed and not reference" tests
