"""The gateway's per-developer key check (roles/litellm_gateway/files/ccprov_auth.py)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from tests.conftest import REPO, load_file

auth = load_file("ccprov_auth", REPO / "roles/litellm_gateway/files/ccprov_auth.py")

ALICE = "sk-ccprov-alice-0123456789abcdef"
BOB = "sk-ccprov-bob-0123456789abcdef"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write(path, text: str) -> None:
    path.write_text(text)
    # Make sure the change is seen even within one mtime tick.
    stamp = time.time_ns() + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def store(tmp_path):
    keys = tmp_path / "keys.yaml"
    write(
        keys,
        f"developers:\n  alice: {{sha256: {sha(ALICE)}}}\n"
        f"  bob: {{sha256: {sha(BOB)}, disabled: true}}\n",
    )
    return auth.KeyStore(path=str(keys), master_key="sk-master-0123456789")


def test_good_key_gives_the_developers_name(store) -> None:
    assert store.check(ALICE).user == "alice"


def test_master_key_still_works_for_ops(store) -> None:
    assert store.check("sk-master-0123456789").user == "ops"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "No API key"),
        ("", "No API key"),
        ("sk-not-a-key", "Unknown API key"),
        (BOB, "The key of 'bob' was revoked"),
    ],
)
def test_refusals_say_which(store, key, message) -> None:
    verdict = store.check(key)
    assert verdict.user is None and verdict.error.startswith(message)
    if key:
        assert key not in verdict.error


def test_bearer_and_x_api_key_forms() -> None:
    assert auth.key_from_headers({"authorization": f"Bearer {ALICE}"}, None) == ALICE
    assert auth.key_from_headers({"x-api-key": ALICE}, None) == ALICE
    assert auth.key_from_headers({}, None) is None


def test_revoke_takes_effect_without_restart(store, tmp_path) -> None:
    assert store.check(ALICE).user == "alice"
    write(
        tmp_path / "keys.yaml", f"developers:\n  alice: {{sha256: {sha(ALICE)}, disabled: true}}\n"
    )
    assert "revoked" in store.check(ALICE).error


def test_malformed_file_keeps_the_last_good_set(store, tmp_path, caplog) -> None:
    assert store.check(ALICE).user == "alice"
    write(tmp_path / "keys.yaml", "developers:\n  alice: {sha256: not-a-hash}\n")
    assert store.check(ALICE).user == "alice"
    assert "refused, keeping the last good set" in caplog.text
    assert ALICE not in caplog.text


def test_validate_entry_point(tmp_path) -> None:
    import subprocess
    import sys

    good = tmp_path / "good.yaml"
    good.write_text(f"developers:\n  alice: {{sha256: {sha(ALICE)}}}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("developers: [alice]\n")
    script = str(REPO / "roles/litellm_gateway/files/ccprov_auth.py")
    assert subprocess.run([sys.executable, script, str(good)]).returncode == 0
    proc = subprocess.run([sys.executable, script, str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "must be a mapping" in proc.stderr
