"""The LiteLLM supply-chain guard: versions, the lock file, installed venvs, the play."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ccprov.fleet import guard
from tests.conftest import REPO
from tests.support.pins import LITELLM

g = guard.load()
DENY = ["1.82.7", "1.82.8"]
ROLE = REPO / "roles/litellm_gateway"
LOCKS = REPO / "roles/pinned_venv/files/requirements"


@pytest.mark.parametrize("version", ["1.82.7", "1.82.8"])
def test_compromised_versions_are_refused_with_the_fix(version) -> None:
    message = g.version_problem(version, DENY, "1.82.9", vetted=LITELLM)
    assert message and "denylisted" in message and "credential-stealing" in message
    assert message.endswith(f"Pin a vetted release such as {LITELLM}.")
    assert g.version_problem(version, DENY, "1.82.9").endswith("Pin a vetted release.")


def test_denylist_is_extensible_and_minimum_enforced() -> None:
    assert g.version_problem("1.90.0", [*DENY, "1.90.0"], "1.82.9")
    assert "older than the minimum" in g.version_problem("1.80.0", DENY, "1.82.9")
    assert g.version_problem("1.82.9", DENY, "1.82.9") is None
    assert g.version_problem(LITELLM, DENY, "1.82.9") is None
    assert "not an exact version" in g.version_problem(">=1.80", DENY, "1.82.9")


def test_version_comparison_is_numeric() -> None:
    assert g.parse_version(LITELLM) > g.parse_version("1.82.9")
    assert g.parse_version("1.75.5.post1") == (1, 75, 5)


def test_the_shipped_lock_is_fully_hash_pinned() -> None:
    locks = sorted((LOCKS).glob("litellm-*.txt"))
    assert locks, "no lock file in the role"
    defaults = (ROLE / "defaults/main.yml").read_text()
    pin = re.search(r'litellm_gateway_version: "([^"]+)"', defaults).group(1)
    assert (LOCKS / f"litellm-{pin}.txt").exists()
    for lock in locks:
        text = lock.read_text()
        version = lock.stem.split("-", 1)[1]
        assert g.lock_problems(text, version, DENY) == []
        assert "1.82.7" not in text and "1.82.8" not in text


def test_lock_problems_are_found() -> None:
    unhashed = f"litellm=={LITELLM} \\\n    --hash=sha256:aa\nrequests==2.0\n"
    assert "requirement requests==2.0 has no --hash" in g.lock_problems(unhashed, LITELLM, DENY)
    wrong = "litellm==1.82.8 \\\n    --hash=sha256:aa\n"
    problems = g.lock_problems(wrong, LITELLM, DENY)
    assert f"the lock file pins litellm 1.82.8, not {LITELLM}" in problems
    assert "the lock file pins denylisted litellm 1.82.8" in problems


def make_venv(root: Path, version: str, pth: dict[str, str]) -> Path:
    site = root / "lib/python3.11/site-packages"
    info = site / f"litellm-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Name: litellm\nVersion: {version}\n")
    for name, text in pth.items():
        (site / name).write_text(text)
    return root


def test_venv_audit(tmp_path) -> None:
    allowed = [r"^distutils-precedence\.pth$"]
    good = make_venv(tmp_path / "good", LITELLM, {"distutils-precedence.pth": "import os\n"})
    assert g.venv_problems(str(good), LITELLM, allowed) == []
    bad = make_venv(tmp_path / "bad", LITELLM, {"litellm_init.pth": "import base64\n"})
    (problem,) = g.venv_problems(str(bad), LITELLM, allowed)
    assert "unexpected litellm_init.pth" in problem and "remove the venv" in problem
    other = make_venv(tmp_path / "other", "1.82.8", {})
    assert g.venv_problems(str(other), LITELLM, allowed) == [
        f"installed litellm is 1.82.8, expected exactly {LITELLM}"
    ]
    assert "no site-packages" in g.venv_problems(str(tmp_path / "none"), LITELLM, allowed)[0]


@pytest.mark.parametrize("version", ["1.82.7", "1.82.8"])
def test_the_play_fails_for_a_compromised_version(tmp_path, version) -> None:
    """The gateway play stops at its first task, before touching the host."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "gateways": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            }
        )
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            str(REPO / "playbooks/gateways.yml"),
            "-i",
            str(inventory),
            "-e",
            f"litellm_gateway_version={version}",
            "-e",
            "litellm_gateway_master_key=sk-test-0123456789abcdef0123456789",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        },
    )
    assert proc.returncode != 0
    assert f"litellm {version} is denylisted" in proc.stdout
    # The fix names the release of pinned_venv's own lock (its file name, the one place).
    assert f"Pin a vetted release such as {LITELLM}." in proc.stdout
    assert "changed=0" in proc.stdout
