"""install.sh on Debian and Ubuntu without Python's venv module (issue #31 item 3): as root
(or with sudo) it installs the interpreter's own python3.X-venv; where it cannot, or apt-get
fails, it says in one line what to install and exits non-zero, creating nothing; a Python
too old is named before anything is installed. A PATH of stand-ins: python3, id, apt-get."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

# python3 3.MINOR without venv (`import ensurepip` fails); too_old: the version check fails.
PYTHON = """#!/bin/sh
case "$*" in
  *ensurepip*) exit 1 ;;
  *venv\\"*) echo python3.{minor}-venv ;;
  *version_info*) exit {too_old} ;;
  *--version*) echo "Python 3.{minor}.4" ;;
esac
exit 0
"""


def run_install(tmp_path: Path, *, uid: int, minor: int = 11) -> tuple[int, list[str], str]:
    """install.sh with apt-get (logging its arguments, failing `install`) and no sudo; its
    exit status, its stderr lines and what apt-get was asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    log = tmp_path / "apt.log"
    scripts = {
        "python3": PYTHON.format(minor=minor, too_old=int(minor < 11)),
        "id": f"#!/bin/sh\necho {uid}\n",
        "apt-get": f'#!/bin/sh\necho "$*" >>{log}\ncase "$*" in install*) exit 100 ;; esac\n',
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.run(
        ["/bin/bash", str(REPO / "install.sh")],
        env={"PATH": str(bin_dir), "HOME": str(home), "CCPROV_VENV": str(tmp_path / "venv")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert not (tmp_path / "venv").exists() and not os.listdir(home)
    return (
        proc.returncode,
        proc.stderr.strip().splitlines(),
        log.read_text() if log.exists() else "",
    )


def test_not_root_without_sudo_names_the_package(tmp_path) -> None:
    rc, lines, apt = run_install(tmp_path, uid=1000)
    assert rc != 0
    assert lines == [
        "install.sh: Python's venv module is missing; install it as root:"
        " apt-get install python3.11-venv"
    ]
    assert apt == ""


def test_root_installs_the_interpreters_venv_and_says_so_when_apt_fails(tmp_path) -> None:
    rc, lines, apt = run_install(tmp_path, uid=0, minor=12)
    assert rc != 0
    assert apt.splitlines() == ["update -qq", "install -y -qq python3.12-venv"]
    assert lines[-1].startswith("install.sh: apt-get could not install python3.12-venv; install it")


@pytest.mark.parametrize("uid", [0, 1000])
def test_too_old_python_is_named_before_anything_is_installed(tmp_path, uid: int) -> None:
    rc, lines, apt = run_install(tmp_path, uid=uid, minor=10)
    assert rc != 0
    assert lines == [
        "install.sh: ccprov needs Python >= 3.11 (found Python 3.10.4); install it:"
        " sudo apt-get install python3.11 python3.11-venv, then CCPROV_PYTHON=python3.11 "
        + str(REPO / "install.sh")
    ]
    assert apt == ""
