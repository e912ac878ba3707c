"""`ccprov keys`: hashes into the inventory (comments kept), keys shown once, never stored."""

from __future__ import annotations

import hashlib
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO

CCPROV = str(Path(sys.executable).parent / "ccprov")


def keys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CCPROV, "keys", *args], capture_output=True, text=True, check=False)


def test_add_revoke_list_round_trip(tmp_path) -> None:
    inventory = tmp_path / "inv"
    shutil.copytree(REPO / "inventories/example", inventory)
    target = inventory / "group_vars/gateways/main.yml"
    target.write_text(
        target.read_text() + "# keys below\nlitellm_gateway_developer_keys:\n"
        "  # the first developer\n  carol: {sha256: " + "a" * 64 + ', created: "2026-01-02"}\n'
    )
    before = target.read_text()

    added = keys("add", "alice", "-i", str(inventory))
    assert added.returncode == 0, added.stderr
    key = next(line for line in added.stdout.splitlines() if line.startswith("sk-ccprov-"))
    text = target.read_text()
    assert key not in text and hashlib.sha256(key.encode()).hexdigest() in text
    # Everything that was there is still there, comments and order included.
    assert text.startswith(before.split("litellm_gateway_developer_keys:")[0])
    assert "  # the first developer\n  carol:" in text
    data = yaml.safe_load(text)["litellm_gateway_developer_keys"]
    assert list(data) == ["carol", "alice"]

    assert keys("revoke", "alice", "-i", str(inventory)).returncode == 0
    assert (
        yaml.safe_load(target.read_text())["litellm_gateway_developer_keys"]["alice"]["disabled"]
        is True
    )
    listing = keys("list", "-i", str(inventory))
    assert "alice" in listing.stdout and "revoked" in listing.stdout and "carol" in listing.stdout
    assert key not in listing.stdout and "a" * 64 not in listing.stdout


def test_key_to_a_private_file(tmp_path) -> None:
    inventory = tmp_path / "inv"
    (inventory / "group_vars").mkdir(parents=True)
    out = tmp_path / "alice.key"
    proc = keys("add", "alice", "-i", str(inventory), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = out.read_text().strip()
    assert key.startswith("sk-ccprov-") and key not in proc.stdout
    created = inventory / "group_vars/gateways/developer_keys.yml"
    assert "SHA-256 hashes only" in created.read_text()


def test_errors_are_one_line(tmp_path) -> None:
    inventory = tmp_path / "inv"
    (inventory / "group_vars").mkdir(parents=True)
    assert keys("add", "Bad Name", "-i", str(inventory)).stderr.strip().endswith("digits, . _ -")
    assert keys("add", "alice", "-i", str(inventory)).returncode == 0
    again = keys("add", "alice", "-i", str(inventory))
    assert again.returncode == 1 and "already has an active key" in again.stderr
    missing = keys("revoke", "zed", "-i", str(inventory))
    assert missing.returncode == 1 and "no key named 'zed'" in missing.stderr
    nowhere = keys("list", "-i", str(tmp_path / "nope"))
    assert nowhere.returncode == 1 and "does not exist" in nowhere.stderr


def test_a_reserved_name_is_refused_and_nothing_is_written(tmp_path) -> None:
    """`ccprov keys add ops` made a developer whose key the gateway treated as the master
    key (issue #28); now the name is refused in one line and the inventory is untouched."""
    inventory = tmp_path / "inv"
    (inventory / "group_vars").mkdir(parents=True)
    for name in ("ops", "admin", "litellm"):
        proc = keys("add", name, "-i", str(inventory))
        assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
        assert f"'{name}' is reserved" in proc.stderr and "choose another name" in proc.stderr
    assert not any(p.is_file() for p in inventory.rglob("*"))
