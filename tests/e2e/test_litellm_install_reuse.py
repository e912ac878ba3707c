"""The gateway role's install steps, included from another play as another role would
(issue 10's loopback LiteLLM): tasks_from install, no service account, installer uv
bootstrapped from its own hash lock. Real packages from the index (~10 s with uv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

VERSION = "1.106.2"
UV_VERSION = "0.13.9"


def include_install(tmp: Path, root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    playbook = tmp / "reuse.yml"
    playbook.write_text(
        """- name: Another role's play
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A guarded LiteLLM of its own
      ansible.builtin.include_role:
        name: litellm_gateway
        tasks_from: install
"""
    )
    variables = {
        "litellm_gateway_root": str(root),
        "litellm_gateway_manage_account": False,
        **extra,
    }
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_HOME": str(tmp / "ansible"),
        "ANSIBLE_FORCE_COLOR": "0",
        # uv's downloads stay warm between runs (the role sets no cache of its own).
        "UV_CACHE_DIR": str(REPO / ".cache/uv"),
        # No uv on PATH (the dev venv has one): the play must bootstrap its own.
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            json.dumps(variables),
            str(playbook),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        cwd=tmp,
    )


def installed_version(root: Path) -> str:
    return subprocess.run(
        [
            str(root / "current/bin/python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_install_steps_are_reusable_with_a_bootstrapped_uv(tmp_path) -> None:
    """The default installer (auto) on a host without uv: uv from its own lock."""
    root = tmp_path / "litellm"
    first = include_install(tmp_path, root)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    # uv came from its own lock, into its own venv; LiteLLM from the role's lock.
    assert (root / f"uv-{UV_VERSION}/bin/uv").exists()
    assert (root / f"uv-{UV_VERSION}.txt").read_text().count("--hash=sha256:") > 0
    assert (root / "current").resolve() == root / VERSION
    assert installed_version(root) == VERSION
    assert (root / f"{VERSION}/.ccprov-installed").exists()
    python = root / "current/bin/python"

    again = include_install(tmp_path, root)
    assert again.returncode == 0, again.stdout[-4000:]
    assert "changed=0" in again.stdout, again.stdout[-4000:]

    # The audit runs every time: a planted .pth stops the play.
    site = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "litellm_init.pth").write_text("# planted by the test\n")
    audited = include_install(tmp_path, root)
    assert audited.returncode != 0
    assert "unexpected litellm_init.pth" in audited.stdout + audited.stderr


def test_included_alone_it_still_refuses_a_compromised_version(tmp_path) -> None:
    root = tmp_path / "litellm"
    proc = include_install(tmp_path, root, litellm_gateway_version="1.82.8")
    assert proc.returncode != 0
    assert "litellm 1.82.8 is denylisted" in proc.stdout + proc.stderr
    assert not root.exists()


def test_install_steps_with_pip(tmp_path) -> None:
    root = tmp_path / "litellm"
    proc = include_install(tmp_path, root, litellm_gateway_installer="pip")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert not list(root.glob("uv-*"))
    assert installed_version(root) == VERSION
