"""The hash locks of ccprov itself and of the workstation's Mistral Vibe (issue #18).

Every requirement is pinned exactly with a hash, and the installers use them with
--require-hashes --no-deps --only-binary :all: (no resolver, no sdist ever built).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
STRICT = "--require-hashes --no-deps --only-binary :all:"


def requirements(lock: Path) -> dict[str, str]:
    """{requirement line: its text up to the next requirement} of a `uv pip compile` lock."""
    entries: dict[str, str] = {}
    current = ""
    for line in lock.read_text().splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            current = line.rstrip(" \\")
            entries[current] = ""
        elif current:
            entries[current] += line + "\n"
    return entries


LOCKS = [
    REPO / "requirements/ccprov.txt",
    *sorted((REPO / "roles/workstation/files/requirements").glob("*.txt")),
]


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_every_requirement_is_pinned_with_a_hash(lock) -> None:
    entries = requirements(lock)
    assert entries
    for line, rest in entries.items():
        assert re.match(r"^[A-Za-z0-9._-]+==[^ ;]+( ;.*)?$", line), line
        assert "--hash=sha256:" in rest, line


def test_the_workstation_ships_a_lock_for_its_default_mistral_vibe() -> None:
    defaults = yaml.safe_load((REPO / "roles/workstation/defaults/main.yml").read_text())
    version = defaults["workstation_mistral_vibe_version"]
    lock = REPO / f"roles/workstation/files/requirements/mistral-vibe-{version}.txt"
    assert f"mistral-vibe=={version}" in requirements(lock)
    tasks = (REPO / "roles/workstation/tasks/agents.yml").read_text()
    assert STRICT in tasks and "mistral-vibe==" not in tasks


def test_ccprov_lock_covers_the_runtime_dependencies_and_the_build_backend() -> None:
    pinned = {
        re.split(r"[=;]", line)[0].lower().replace("_", "-").replace(".", "-")
        for line in requirements(REPO / "requirements/ccprov.txt")
    }
    for needed in ("ansible-core", "click", "fabric", "jinja2", "pyyaml", "ruamel-yaml"):
        assert needed in pinned
    assert "hatchling" in pinned


def test_install_sh_installs_only_from_the_lock() -> None:
    script = (REPO / "install.sh").read_text()
    assert f'{STRICT} -r "$here/requirements/ccprov.txt"' in script
    assert '--no-deps --no-build-isolation --no-index --force-reinstall "$here"' in script
    assert "--upgrade pip" not in script


def test_both_litellm_pins_have_pinned_venvs_lock() -> None:
    """The gateway and the workstation's vibe proxy pin LiteLLM apart (no role reads the
    other's variables); both install from pinned_venv's one lock for that release."""
    ws = yaml.safe_load((REPO / "roles/workstation/defaults/main.yml").read_text())
    gw = yaml.safe_load((REPO / "roles/litellm_gateway/defaults/main.yml").read_text())
    for version in (ws["workstation_vibe_proxy_version"], gw["litellm_gateway_version"]):
        assert (REPO / f"roles/pinned_venv/files/requirements/litellm-{version}.txt").is_file()
    assert not list(REPO.glob("roles/*/files/requirements/litellm-*.txt"))[1:], "one copy only"
