#!/usr/bin/env bash
# Lint: ruff, mypy, yamllint, ansible-lint (production profile).
set -euo pipefail
cd "$CCPROV_REPO"
ruff check src tests bench
ruff format --check src tests bench
mypy
yamllint -s .
ansible-lint --profile production
