"""install.sh on a machine it cannot set up by itself (issue #31 item 3): where Python's venv
module is missing or Python is too old and there is no apt-get, it says in one line what to
install with the system's own package manager, exits non-zero and creates nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

# What install.sh runs before it installs anything, from this machine.
TOOLS = ("dirname", "id", "cat")


def shim_path(tmp_path: Path, python: str, manager: str | None) -> Path:
    """A PATH with the few tools install.sh needs, a python3 that behaves as PYTHON says
    (no-venv: `import ensurepip` fails; old: a 3.9), and MANAGER as the only package manager."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    script = {
        "no-venv": 'case "$*" in *ensurepip*) exit 1;; esac; exit 0\n',
        "old": 'case "$*" in *--version*) echo "Python 3.9.18";; *ensurepip*) exit 0;;'
        " *version_info*) exit 1;; esac; exit 0\n",
    }[python]
    (bin_dir / "python3").write_text("#!/bin/sh\n" + script)
    (bin_dir / "python3").chmod(0o755)
    if manager:
        (bin_dir / manager).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / manager).chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("python", "manager", "wanted"),
    [
        ("no-venv", "dnf", "sudo dnf install python3.11, then CCPROV_PYTHON=python3.11"),
        ("no-venv", "pacman", "sudo pacman -S python"),
        ("no-venv", "zypper", "sudo zypper install python311"),
        ("no-venv", None, "a Python >= 3.11 with its venv module"),
        ("old", "dnf", "(found Python 3.9.18); install it: sudo dnf install python3.11"),
    ],
)
def test_one_line_naming_the_package_to_install(tmp_path, python, manager, wanted) -> None:
    bin_dir = shim_path(tmp_path, python, manager)
    home = tmp_path / "home"
    home.mkdir()
    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["/bin/bash", str(REPO / "install.sh")],
        env={"PATH": str(bin_dir), "HOME": str(home), "CCPROV_VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("install.sh: "), proc.stderr
    assert wanted in lines[0], lines[0]
    assert not venv.exists() and not os.listdir(home)
