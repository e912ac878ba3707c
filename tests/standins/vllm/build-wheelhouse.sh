#!/usr/bin/env bash
# Build the vLLM stand-in as a wheel at VERSION into OUTDIR, plus OUTDIR/vllm-VERSION.txt:
# a hash-locked requirements file, so the role installs it exactly like the real vLLM:
#   pip install --require-hashes --no-deps --no-index --find-links OUTDIR -r vllm-VERSION.txt
#   build-wheelhouse.sh OUTDIR [VERSION] [--broken]
# --broken builds a version whose server fails at start (for the rollback test).
#
# The stand-in needs mistral-common (as vLLM does, for Mistral tokenizers), so OUTDIR also
# gets mistral-common 1.12.0 and its runtime dependency closure, at the exact versions and
# sha256 hashes of the role's real vLLM lock (roles/vllm_server/files/requirements/
# vllm-<version>.txt), as wheels for CPython 3.11 manylinux x86_64 (Debian 12 test hosts), and
# the lock lists them all. Downloads are cached: wheels already in OUTDIR are reused, and
# STANDIN_WHEEL_CACHE=DIR (optional) keeps a copy across calls.
set -euo pipefail
out=${1:?usage: build-wheelhouse.sh OUTDIR [VERSION] [--broken]}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
# The role's one vLLM lock; VERSION defaults to the release it pins (its name says it).
locks=("$repo"/roles/vllm_server/files/requirements/vllm-*.txt)
[ ${#locks[@]} -eq 1 ] || { echo "expected one vllm-<version>.txt lock: ${locks[*]}" >&2; exit 1; }
vllm_lock=${locks[0]}
pinned=$(basename "$vllm_lock" .txt)
version=${2:-${pinned#vllm-}}
broken=false
[ "${3:-}" = "--broken" ] && broken=true
# mistral-common 1.12.0's runtime closure on CPython 3.11 (its modules import
# pydantic_extra_types.language_code, which needs pycountry, although its metadata
# lists them only under extras).
deps=(mistral-common jsonschema attrs jsonschema-specifications referencing rpds-py
  typing-extensions numpy pillow pydantic pydantic-core annotated-types typing-inspection
  requests certifi charset-normalizer idna urllib3 tiktoken regex
  pydantic-extra-types pycountry)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# 1. The pinned, hashed requirement blocks of those packages, copied from the vLLM lock.
python3 - "$vllm_lock" "$work/deps.txt" "${deps[@]}" <<'EOF'
import re, sys
lock, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
blocks = {}
for block in re.split(r"\n(?=[A-Za-z0-9])", open(lock, encoding="utf-8").read()):
    m = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
    if m:
        lines = [ln.rstrip() for ln in block.splitlines() if not ln.strip().startswith("#")]
        blocks[norm(m.group(1))] = "\n".join(lines).rstrip(" \\") + "\n"
missing = [n for n in names if norm(n) not in blocks]
if missing:
    sys.exit(f"not in {lock}: {missing}")
with open(dest, "w", encoding="utf-8") as fh:
    fh.writelines(blocks[norm(n)] for n in names)
EOF

# 2. Their wheels: reuse OUTDIR's and the cache's, download only what is missing.
cache=${STANDIN_WHEEL_CACHE:-}
if [ -n "$cache" ]; then
  mkdir -p "$cache"
  cp -n "$cache"/*.whl "$out"/ 2>/dev/null || true
fi
download() {
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
    --require-hashes --python-version 3.11 --implementation cp --abi cp311 --abi abi3 \
    --platform manylinux_2_36_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --find-links "$out" -d "$out" -r "$work/deps.txt" "$@"
}
download --no-index >/dev/null 2>&1 || download >/dev/null
if [ -n "$cache" ]; then
  cp -n "$out"/*.whl "$cache"/ 2>/dev/null || true
fi

# 3. The stand-in's own wheel.
cp -r "$here/pyproject.toml" "$here/src" "$work/"
sed -i "s/^__version__ = .*/__version__ = \"$version\"/" "$work/src/vllm/__init__.py"
if $broken; then
  sed -i 's/^BROKEN = False/BROKEN = True/' "$work/src/vllm/cli.py"
fi
rm -f "$out"/vllm-"$version"-*.whl
python3 -m pip wheel -q --no-deps --disable-pip-version-check -w "$out" "$work" >/dev/null
wheel=$(ls "$out"/vllm-"$version"-*.whl)
hash=$(sha256sum "$wheel" | cut -d' ' -f1)
{
  printf 'vllm==%s \\\n    --hash=sha256:%s\n' "$version" "$hash"
  cat "$work/deps.txt"
} >"$out/vllm-$version.txt"
echo "$wheel"
