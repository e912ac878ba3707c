#!/usr/bin/env bash
# Install ccprov for the current user: its own venv under ~/.local/share/ccprov and a
# `ccprov` link in ~/.local/bin. Re-running upgrades it in place.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${CCPROV_VENV:-$HOME/.local/share/ccprov/venv}

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "install.sh: Python's venv module is missing; installing python3-venv" >&2
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "install.sh: ccprov needs Python >= 3.11 (found $(python3 --version))" >&2
  exit 1
}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Dependencies only from the hash lock (requirements/ccprov.txt: exact hashes, no resolver,
# wheels only, so nothing unhashed is built or run); it holds hatchling, the build backend,
# so ccprov itself is then built from this checkout with nothing fetched.
pip=("$venv/bin/pip" install -q --disable-pip-version-check)
"${pip[@]}" --require-hashes --no-deps --only-binary :all: -r "$here/requirements/ccprov.txt"
"${pip[@]}" --no-deps --no-build-isolation --no-index --force-reinstall "$here"
mkdir -p "$HOME/.local/bin"
ln -sf "$venv/bin/ccprov" "$HOME/.local/bin/ccprov"
echo "ccprov $("$venv/bin/ccprov" --version | awk '{print $NF}') installed: $HOME/.local/bin/ccprov"
