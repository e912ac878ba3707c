#!/usr/bin/env bash
# Lint: ruff, mypy, yamllint, ansible-lint (production profile).
set -euo pipefail
cd "$CCPROV_REPO"
paths=(src tests roles)
[ -d bench ] && paths+=(bench)
ruff check "${paths[@]}"
ruff format --check "${paths[@]}"
mypy
yamllint -s .
# The test bed's own self-test role lives under tests/.
ANSIBLE_ROLES_PATH=roles:tests/hostbed/roles ansible-lint --profile production
