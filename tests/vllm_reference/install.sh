#!/usr/bin/env bash
# The reference backend's venv: vLLM installed from the vllm_server role's own hash lock,
# exactly as the role installs it on a GPU host (--require-hashes --no-deps, wheels only),
# with the run's locked uv (tests/wheelhouse.sh made it). About 9 GB; a venv already made
# from the same lock is kept. Also fetches mistral-common 1.13.1 (hash-checked, unpacked
# beside it) for the test that shows the lock this one replaced fails.
#   tests/vllm_reference/install.sh [VENV]     (default .cache/vllm-reference/venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-${CCPROV_VLLM_REFERENCE_VENV:-.cache/vllm-reference/venv}}
# The role's one vLLM lock (the release is in its name).
locks=(roles/vllm_server/files/requirements/vllm-*.txt)
[ ${#locks[@]} -eq 1 ] || { echo "expected one vllm-<version>.txt lock: ${locks[*]}" >&2; exit 1; }
lock=${locks[0]}
uv=.cache/uv/bin/uv
[ -x "$uv" ] || bash tests/wheelhouse.sh .cache/wheelhouse >/dev/null
start=$SECONDS
# One install at a time: 00-setup starts one in the background, tests/stages/vllm-reference.sh
# waits here for it (then finds it done) or installs itself if that one failed.
mkdir -p "$(dirname "$venv")"
exec 9>"$(dirname "$venv")/.install.lock"
flock 9
stamp="$venv/.ccprov-lock-$(sha256sum <"$lock" | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  rm -rf "$venv"
  # Debian 12's Python, as on a GPU host (the role's vllm_server_python: python3).
  "$uv" venv -q --python "${CCPROV_REFERENCE_PYTHON:-python3}" "$venv"
  "$uv" pip install -q --system-certs --python "$venv/bin/python" --require-hashes --no-deps \
    --only-binary :all: -r "$lock"
  # The lock must be whole: every requirement of every package in it is in it.
  "$uv" pip check -q --python "$venv/bin/python"
  touch "$stamp"
fi
# The mistral-common the lock held before (its hashes as that lock had them).
old=$(dirname "$venv")/mistral-common-1.13.1
if [ ! -d "$old/mistral_common" ]; then
  rm -rf "$old.tmp" && mkdir -p "$old.tmp"
  printf '%s \\\n    --hash=sha256:%s \\\n    --hash=sha256:%s\n' mistral-common==1.13.1 \
    98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af \
    ad8d5b7e866e907925e31274c314fdaa7f7c45a0a43e7d2f543fd7fe65ddcea9 >"$old.tmp/req.txt"
  "$uv" pip install -q --system-certs --python "$venv/bin/python" --require-hashes --no-deps \
    --only-binary :all: --target "$old.tmp/site" -r "$old.tmp/req.txt"
  rm -rf "$old" && mv "$old.tmp/site" "$old" && rm -rf "$old.tmp"
fi
echo "vllm reference: $("$venv/bin/python" -c 'import importlib.metadata as m; print("vllm", m.version("vllm"), "mistral-common", m.version("mistral-common"))') in $venv ($((SECONDS - start))s)"
