"""Per-developer keys end to end: the real claude CLI with developer A's own key through
the real LiteLLM gateway; after a revoke (no restart) the same command shows the 401."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import Backend
from tests.e2e.test_cc_local import onboard

pytestmark = pytest.mark.slow

ALICE = "sk-ccprov-alice-e2e-0123456789abcdef"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def models(gateway, key: str | None) -> tuple[int, str]:
    request = urllib.request.Request(gateway.url + "/v1/models")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_wrong_revoked_and_missing_keys_get_401_with_the_reason(gateway) -> None:
    gateway.set_developers(
        {"alice": {"sha256": digest(ALICE)}, "bob": {"sha256": "b" * 64, "disabled": True}}
    )
    assert models(gateway, ALICE)[0] == 200
    assert models(gateway, gateway.master_key)[0] == 200
    status, body = models(gateway, "sk-wrong-key-123")
    assert status == 401 and "Unknown API key" in body and "sk-wrong-key-123" not in body
    status, body = models(gateway, None)
    assert status == 401 and "No API key" in body
    gateway.set_developers({"alice": {"sha256": digest(ALICE), "disabled": True}})
    status, body = models(gateway, ALICE)
    assert status == 401 and "The key of 'alice' was revoked" in json.dumps(body)
    assert ALICE not in gateway.log.read_text()


def test_claude_with_own_key_then_revoked(developer, gateway, tmp_path) -> None:
    gateway.set_developers({"alice": {"sha256": digest(ALICE), "created": "2026-11-24"}})
    onboard(developer, Backend(gateway.url, ALICE), tmp_path)
    ok = developer.run('cc-local -p "Say OK" --output-format text')
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().splitlines()[-1] == "OK"

    gateway.set_developers({"alice": {"sha256": digest(ALICE), "disabled": True}})
    refused = developer.run('cc-local -p "Say OK" --output-format text')
    assert refused.returncode != 0
    assert "401" in refused.stdout + refused.stderr
    assert "revoked" in refused.stdout + refused.stderr
