"""pinned_venv on a real host: two packages installed from their hash locks into versioned
venvs with `current` links, idempotent, and unsafe pins refused before anything changes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.support.playbook import play

ROLE = Path(__file__).resolve().parents[3]
IDNA = "/opt/pinned/idna"
SIX = "/home/pinned/.local/share/six"


def builtin_denylist() -> list[str]:
    spec = importlib.util.spec_from_file_location(
        "pinned_venv_guard", ROLE.parent.parent / "plugins/module_utils/litellm_guard.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.DEFAULT_POLICY["denylist"])


def version_in(host, venv: str, package: str) -> str:
    return host.check_output(
        f"{venv}/bin/python -c \"import importlib.metadata as m; print(m.version('{package}'))\""
    )


def test_versioned_venvs_with_current_links(host) -> None:
    assert host.file(f"{IDNA}/current").linked_to == f"{IDNA}/3.20"
    assert host.file(f"{SIX}/current").linked_to == f"{SIX}/1.17.0"
    assert version_in(host, f"{IDNA}/current", "idna") == "3.20"
    assert version_in(host, f"{SIX}/current", "six") == "1.17.0"
    marker = host.file(f"{IDNA}/3.20/.ccprov-installed").content_string
    assert marker == "idna 3.20 from requirements-3.20.txt\n"


def test_the_lock_is_kept_next_to_the_venv(host) -> None:
    lock = host.file(f"{IDNA}/requirements-3.20.txt")
    assert lock.user == "root" and lock.mode == 0o644
    assert "idna==3.20" in lock.content_string and "--hash=sha256:" in lock.content_string


def test_owner_group_and_installer(host) -> None:
    root = host.file(IDNA)
    assert (root.user, root.group, root.mode) == ("root", "pinned", 0o755)
    # idna: the bootstrapped, pinned uv from the host's wheelhouse (nothing pushed).
    assert host.check_output(f"{IDNA}/.uv/0.13.9/bin/uv --version").startswith("uv 0.13.9")
    assert not host.file(f"{IDNA}/wheelhouse").exists
    # six: the venv's pip, from the wheelhouse pushed as one archive, all the user's.
    assert not host.file(f"{SIX}/.uv").exists
    assert host.file(f"{SIX}/wheelhouse/six-1.17.0-py2.py3-none-any.whl").user == "pinned"
    for path in (SIX, f"{SIX}/1.17.0/pyvenv.cfg", f"{SIX}/1.17.0/.ccprov-installed"):
        assert host.file(path).user == "pinned", path


def test_a_move_of_current_notifies_the_callers_handlers(host) -> None:
    assert host.file("/var/tmp/pinned-venv-notified").content_string == "idna\n"


def test_a_denylisted_litellm_is_refused_before_anything_changes(host) -> None:
    bad = builtin_denylist()[0]
    proc = play(
        "-e",
        json.dumps(
            {
                "pinned_venv_package": "litellm",
                "pinned_venv_version": bad,
                "pinned_venv_root": "/opt/pinned/refused",
            }
        ),
    )
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())
    assert f"litellm {bad} is denylisted: PyPI releases" in out
    assert "credential-stealing malware" in out
    assert "changed=0" in out
    assert not host.file("/opt/pinned/refused").exists


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"pinned_venv_denylist": ["3.20"]}, "idna 3.20 is denylisted; pin another release."),
        ({"pinned_venv_minimum": "3.21"}, "idna 3.20 is older than the minimum 3.21"),
        ({"pinned_venv_version": "3.*"}, "idna version '3.*' is not an exact version"),
    ],
)
def test_an_unsafe_pin_is_refused(host, extra, message) -> None:
    proc = play("-e", json.dumps(extra))
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())
    assert message in out and "changed=0" in out
