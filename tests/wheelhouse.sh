#!/usr/bin/env bash
# The test run's wheel cache, built once per machine on the controller from the roles' own
# hash locks (pip keeps the wheels it already has): test hosts get it as a read-only mount at
# /srv/ccprov-wheelhouse and install from it through the roles' offline-wheelhouse path
# (litellm_gateway_host_wheelhouse, pinned_venv's); pytest builds its LiteLLM venv from it. OUTDIR/standin
# holds the vLLM stand-in's wheelhouse. Also bootstraps the locked uv for the controller
# into OUTDIR/../uv (hash-checked, like the roles do).
#   tests/wheelhouse.sh [OUTDIR]      (default .cache/wheelhouse)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.cache/wheelhouse}
py=${CCPROV_VENV:-.venv}/bin/python
[ -x "$py" ] || py=python3
mkdir -p "$out"
start=$SECONDS
locks=(
  roles/pinned_venv/files/requirements/litellm-"$(awk -F'"' '/^litellm_gateway_version:/ {print $2}' roles/litellm_gateway/defaults/main.yml)".txt
  roles/pinned_venv/files/requirements/uv-"$(awk -F'"' '/^pinned_venv_uv_version:/ {print $2}' roles/pinned_venv/defaults/main.yml)".txt
)
# The test hosts' Python (Debian 12's python3): lock markers can differ from the controller's.
host_python=${CCPROV_HOST_PYTHON:-3.11.2}
for lock in "${locks[@]}"; do
  # A lock already fetched whole is skipped (pip download would ask the index again).
  stamp="$out/.$(basename "$lock").$(cat "$lock" "$0" | sha256sum | cut -c1-16)"
  [ -e "$stamp" ] && continue
  for_hosts=$(mktemp)
  python3 tests/wheelhouse_lock.py "$lock" "$host_python" >"$for_hosts"
  # Hashes checked, wheels only: the same rules the roles install with.
  for wanted in "$lock" "$for_hosts"; do
    "$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
      --require-hashes -r "$wanted" -d "$out" 2> >(grep -v 'is ignored' >&2)
  done
  rm -f "$for_hosts"
  touch "$stamp"
done
# The vLLM stand-in (tests/standins/vllm) as a wheel with its hash lock and mistral-common's
# closure, for test hosts that run it, at the release the role's vLLM lock pins:
# OUTDIR/standin/vllm-<version>.txt.
STANDIN_WHEEL_CACHE="$out/standin" bash tests/standins/vllm/build-wheelhouse.sh "$out/standin" \
  >/dev/null 2> >(grep -v "is ignored" >&2)
uv_lock=${locks[1]}
uv_venv=$(dirname "$out")/uv
uv_version=$(basename "$uv_lock" .txt | sed 's/^uv-//')
if ! "$uv_venv/bin/uv" --version 2>/dev/null | grep -qx "uv $uv_version.*"; then
  rm -rf "$uv_venv"
  python3 -m venv "$uv_venv"
  "$uv_venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
    --only-binary :all: --no-index --find-links "$out" -r "$uv_lock"
fi
chmod -R a+rX "$out"
echo "wheelhouse: $(find "$out" -name '*.whl' | wc -l) wheels in $out ($((SECONDS - start))s); $("$uv_venv/bin/uv" --version)"
