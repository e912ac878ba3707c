"""A plain wheel (what `pip install .` and install.sh install) carries the collection and
works from any directory: the roles, playbooks and plugins ccprov runs, and the workstation
role's backend table the CLI reads; not the roles' molecule scenarios (tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

COLLECTION = "ccprov/_data/collections/ansible_collections/ccprov/stack"


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = out.glob("ccprov-*.whl")
    target = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def test_the_wheel_holds_the_collection(unpacked: Path) -> None:
    root = unpacked / COLLECTION
    for part in (
        "galaxy.yml",
        "meta/runtime.yml",
        "ansible.cfg",
        "playbooks/site.yml",
        "roles/workstation/vars/backends.yml",
        "roles/litellm_gateway/tasks/main.yml",
        "plugins/modules/home_files.py",
    ):
        assert (root / part).is_file(), part


def test_the_wheel_ships_no_molecule_scenarios(unpacked: Path) -> None:
    roles = unpacked / COLLECTION / "roles"
    shipped = sorted(p.name for p in roles.iterdir())
    assert shipped == sorted(p.parent.name for p in (REPO / "roles").glob("*/tasks"))
    assert [str(p.relative_to(roles)) for p in roles.rglob("molecule")] == []


def test_the_wheel_carries_what_is_sent_to_hosts(unpacked: Path) -> None:
    """The probes travel as their source text (ccprov.probes.source) and conformance reads its
    request bodies from its folder: both must be files in the wheel, not only importable."""
    probes = unpacked / "ccprov/probes"
    assert {"status_probe.py", "usage_probe.py", "conformance.py"} <= {
        p.name for p in probes.glob("*.py")
    }
    assert (probes / "conformance_fixtures/claude_code_request.json").is_file()


def test_the_installed_cli_finds_its_data_from_another_directory(
    unpacked: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    code = (
        "from ccprov import paths; from ccprov.workstation import envfile;"
        "print(paths.data_dir());"
        "print(' '.join(envfile.BACKENDS))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    data_dir, backends = proc.stdout.splitlines()
    assert Path(data_dir) == unpacked / COLLECTION
    # The backend table (roles/workstation/vars/backends.yml), every name but cloud's.
    table = yaml.safe_load((REPO / "roles/workstation/vars/backends.yml").read_text())
    names = [b["name"] for b in table["__workstation_backends"] if not b.get("cloud")]
    assert backends.split() == names and "local" in names
