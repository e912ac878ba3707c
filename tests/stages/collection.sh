#!/usr/bin/env bash
# The Ansible collection ccprov.stack (galaxy.yml, docs/collection.md): build it, install it
# into a clean directory, syntax-check ccprov.stack.site against the example inventory, and
# lint the installed collection with the production profile. Everything runs outside the
# checkout, so neither its ansible.cfg nor its collections/ link is used.
set -euo pipefail
cd "$CCPROV_REPO"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/elsewhere"
installed=$work/colls/ansible_collections/ccprov/stack
# The installed collection alone: not the pip `ansible` bundle's collections, so the syntax
# check proves ansible-core is all an ops controller needs besides it (issue #31).
run() {
  (cd "$1" && shift && env -u ANSIBLE_CONFIG -u ANSIBLE_ROLES_PATH \
    ANSIBLE_HOME="$work/ansible-home" ANSIBLE_COLLECTIONS_PATH="$work/colls" \
    ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false "$@")
}

run "$work/elsewhere" ansible-galaxy collection build --output-path "$work" "$CCPROV_REPO"
run "$work/elsewhere" ansible-galaxy collection install --offline --no-deps -p "$work/colls" \
  "$work"/ccprov-stack-*.tar.gz
for part in MANIFEST.json meta/runtime.yml roles/vllm_server roles/litellm_gateway \
  roles/workstation playbooks/site.yml plugins/filter plugins/modules; do
  [ -e "$installed/$part" ] || { echo "collection: $part is missing from it" >&2; exit 1; }
done
for part in src tests inventories bench .venv .cache collections roles/vllm_server/molecule; do
  [ ! -e "$installed/$part" ] || { echo "collection: $part must not be in it" >&2; exit 1; }
done

run "$work/elsewhere" ansible-playbook ccprov.stack.site -i "$CCPROV_REPO/inventories/example" \
  --syntax-check
# The README's ops command in the checkout, as install.sh's venv (ansible-core alone) runs it:
# no collection from the pip `ansible` bundle.
ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ansible-playbook site.yml -i inventories/example \
  --syntax-check
run "$installed" ansible-lint --profile production --offline
