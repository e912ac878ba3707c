#!/usr/bin/env bash
# Lint: ruff, mypy, yamllint, shellcheck, ansible-lint (production profile).
set -euo pipefail
cd "$CCPROV_REPO"
paths=(src tests roles plugins)
[ -d bench ] && paths+=(bench)
ruff check "${paths[@]}"
ruff format --check "${paths[@]}"
# src/ccprov, the collection's plugins and every Python file the roles ship ([tool.mypy] files).
mypy
yamllint -s .
# Shell: this repository's scripts and those the roles install, both their files
# (claude-switch) and their shell templates, rendered by Ansible once per variant
# (tests/support/shell_scripts.py lists them).
if ! command -v shellcheck >/dev/null; then
  echo "lint: shellcheck is not installed (Debian: apt-get install shellcheck; tests/stages/00-setup.sh does)" >&2
  exit 1
fi
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
python -m tests.support.shell_scripts "$rendered/out" >"$rendered/list"
mapfile -t role_scripts <"$rendered/list"
[ "${#role_scripts[@]}" -gt 0 ] || { echo "lint: found no shell script in the roles" >&2; exit 1; }
mapfile -t repo_scripts < <(find tests src bench -name '*.sh' -type f 2>/dev/null | sort)
shellcheck install.sh .ci/run "${repo_scripts[@]}" "${role_scripts[@]}"
# The test bed's own self-test role lives under tests/.
ANSIBLE_ROLES_PATH=roles:tests/hostbed/roles ansible-lint --profile production
