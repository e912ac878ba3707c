#!/usr/bin/env bash
# Build the vLLM stand-in as a wheel at VERSION into OUTDIR, plus OUTDIR/vllm-VERSION.txt:
# a hash-locked requirements file, so the role installs it exactly like the real vLLM.
#   build-wheelhouse.sh OUTDIR [VERSION] [--broken]
# --broken builds a version whose server fails at start (for the rollback test).
set -euo pipefail
out=${1:?usage: build-wheelhouse.sh OUTDIR [VERSION] [--broken]}
version=${2:-0.33.0}
broken=false
[ "${3:-}" = "--broken" ] && broken=true
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/pyproject.toml" "$here/src" "$work/"
sed -i "s/^__version__ = .*/__version__ = \"$version\"/" "$work/src/vllm/__init__.py"
if $broken; then
  sed -i 's/^BROKEN = False/BROKEN = True/' "$work/src/vllm/cli.py"
fi
mkdir -p "$out"
python3 -m pip wheel -q --no-deps --disable-pip-version-check -w "$out" "$work" >/dev/null
wheel=$(ls "$out"/vllm-"$version"-*.whl)
hash=$(sha256sum "$wheel" | cut -d' ' -f1)
printf 'vllm==%s \\\n    --hash=sha256:%s\n' "$version" "$hash" >"$out/vllm-$version.txt"
echo "$wheel"
