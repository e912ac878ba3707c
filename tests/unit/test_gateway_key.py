"""The gateway front's key (plugins/modules/gateway_key.py): made once on the host with no
Ansible collection (issue #31: community.crypto broke a fresh ops controller), never through
a symlink, never readable by others while it is written; its public half for the signer."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.conftest import REPO

MODULE = REPO / "plugins/modules/gateway_key.py"


def run_module(tmp_path: Path, check: bool = False, **args: Any) -> dict[str, Any]:
    """Run the module the way AnsiballZ does (arguments as JSON) and return its result."""
    params: dict[str, Any] = dict(args)
    if check:
        params["_ansible_check_mode"] = True
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    # AnsiballZ packs the collection's module_utils; the checkout's collections/ stands in.
    env = {**os.environ, "PYTHONPATH": str(REPO / "collections")}
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return json.loads(proc.stdout)


def test_made_once_with_its_mode_and_the_public_half_returned(tmp_path: Path) -> None:
    key = tmp_path / "tls" / "gateway.key"
    key.parent.mkdir()
    dry = run_module(tmp_path, check=True, path=str(key), mode="0640")
    assert dry["changed"] and dry["public_key"] == "" and not key.exists()
    made = run_module(tmp_path, path=str(key), mode="0640")
    assert made["changed"], made
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert made["public_key"] == public.decode()
    assert "PRIVATE" not in json.dumps(made)
    before = key.read_bytes()
    again = run_module(tmp_path, path=str(key), mode="0640")
    assert not again["changed"] and again["public_key"] == made["public_key"]
    assert key.read_bytes() == before
    assert [p.name for p in key.parent.iterdir()] == ["gateway.key"]


def test_a_symlink_or_a_non_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not mine\n")
    link = tmp_path / "gateway.key"
    os.symlink(target, link)
    refused = run_module(tmp_path, path=str(link), mode="0640")
    assert refused.get("failed") and "not a regular file" in refused["msg"]
    assert target.read_text() == "not mine\n"
    junk = tmp_path / "junk.key"
    junk.write_text("hello\n")
    bad = run_module(tmp_path, path=str(junk), mode="0640")
    assert bad.get("failed") and "not a PEM private key" in bad["msg"]
