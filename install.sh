#!/usr/bin/env bash
# Install ccprov for the current user: its own venv under ~/.local/share/ccprov and a
# `ccprov` link in ~/.local/bin. Re-running upgrades it in place.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${CCPROV_VENV:-$HOME/.local/share/ccprov/venv}
# The Python to build the venv with (e.g. CCPROV_PYTHON=python3.11 where python3 is older).
python=${CCPROV_PYTHON:-python3}

# What gives a Python >= 3.11 with venv on this system's package manager (one line).
python_hint() {
  if command -v apt-get >/dev/null 2>&1; then echo "sudo apt-get install python3.11 python3.11-venv, then CCPROV_PYTHON=python3.11 $0"
  elif command -v dnf >/dev/null 2>&1; then echo "sudo dnf install python3.11, then CCPROV_PYTHON=python3.11 $0"
  elif command -v pacman >/dev/null 2>&1; then echo "sudo pacman -S python"
  elif command -v zypper >/dev/null 2>&1; then echo "sudo zypper install python311, then CCPROV_PYTHON=python3.11 $0"
  elif command -v brew >/dev/null 2>&1; then echo "brew install python@3.12"
  else echo "a Python >= 3.11 with its venv module"
  fi
}
command -v "$python" >/dev/null 2>&1 || {
  echo "install.sh: no $python on the PATH; install it: $(python_hint)" >&2
  exit 1
}
# The version first: a venv module added to a Python that is too old would not help.
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "install.sh: ccprov needs Python >= 3.11 (found $("$python" --version 2>&1)); install it: $(python_hint)" >&2
  exit 1
}
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  # Debian and Ubuntu ship venv apart (python3.X-venv, the interpreter's own): installed
  # here where root or sudo can.
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  venv_pkg=$("$python" -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])')
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install.sh: Python's venv module is missing; install it: $(python_hint)" >&2
    exit 1
  elif [ -n "$sudo" ] && ! command -v sudo >/dev/null 2>&1; then
    echo "install.sh: Python's venv module is missing; install it as root: apt-get install $venv_pkg" >&2
    exit 1
  fi
  echo "install.sh: Python's venv module is missing; installing $venv_pkg" >&2
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$venv_pkg"; } || {
    echo "install.sh: apt-get could not install $venv_pkg; install it (sudo apt-get install $venv_pkg), then run $0 again" >&2
    exit 1
  }
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
# Dependencies only from the hash lock (requirements/ccprov.txt: exact hashes, no resolver,
# wheels only, so nothing unhashed is built or run); it holds hatchling, the build backend,
# so ccprov itself is then built from this checkout with nothing fetched.
pip=("$venv/bin/pip" install -q --disable-pip-version-check)
"${pip[@]}" --require-hashes --no-deps --only-binary :all: -r "$here/requirements/ccprov.txt"
"${pip[@]}" --no-deps --no-build-isolation --no-index --force-reinstall "$here"
mkdir -p "$HOME/.local/bin"
ln -sf "$venv/bin/ccprov" "$HOME/.local/bin/ccprov"
echo "ccprov $("$venv/bin/ccprov" --version | awk '{print $NF}') installed: $HOME/.local/bin/ccprov"
