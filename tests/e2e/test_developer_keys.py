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


def call(gateway, key: str, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(gateway.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


SAY_OK = {
    "model": "devstral",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Say OK"}],
}
BOB = "sk-ccprov-bob-e2e-0123456789abcdef"


@pytest.fixture
def restore_developers(gateway):
    """The gateway is shared by the session: put its developers back afterwards."""
    import yaml

    before = yaml.safe_load(gateway.keys_file.read_text()) or {}
    yield
    gateway.set_developers(before.get("developers") or {})


def test_a_developer_key_reaches_only_the_client_api(gateway, restore_developers) -> None:
    gateway.set_developers({"alice": {"sha256": digest(ALICE)}})
    status, body = call(gateway, ALICE, "POST", "/v1/messages?beta=true", SAY_OK)
    assert status == 200, body
    assert call(gateway, ALICE, "GET", "/v1/models")[0] == 200
    for method, path, payload in [
        ("GET", "/model/info", None),
        ("GET", "/health", None),
        ("POST", "/key/generate", {}),
        ("GET", "/debug/asyncio-tasks", None),
        ("POST", "/chat/completions", SAY_OK),  # LiteLLM's unprefixed alias: refused too
    ]:
        status, body = call(gateway, ALICE, method, path, payload)
        assert status == 403, (method, path, status, body)
        assert f"Developer key of 'alice' may not use {method} {path}" in body
        assert ALICE not in body
    status, body = call(gateway, gateway.master_key, "GET", "/model/info")
    assert status == 200, body


def test_rpm_limits_that_developer_only(gateway, restore_developers) -> None:
    gateway.set_developers(
        {"alice": {"sha256": digest(ALICE), "rpm": 2}, "bob": {"sha256": digest(BOB)}}
    )
    assert [call(gateway, ALICE, "POST", "/v1/messages", SAY_OK)[0] for _ in range(2)] == [
        200,
        200,
    ]
    status, body = call(gateway, ALICE, "POST", "/v1/messages", SAY_OK)
    assert status == 429, body
    assert [call(gateway, BOB, "POST", "/v1/messages", SAY_OK)[0] for _ in range(3)] == [200] * 3


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


def test_a_developer_reaches_only_the_models_granted(gateway, restore_developers) -> None:
    """Issue #28: every key reached every model_list entry, and a provider-prefixed name
    (hosted_vllm/devstral) was accepted. With `models` in the keys file (the role writes the
    local model's alias) the real LiteLLM refuses the others before routing, and the body it
    read is still the one the route serves."""
    gateway.set_developers({"alice": {"sha256": digest(ALICE), "models": ["devstral"]}})
    status, body = call(gateway, ALICE, "POST", "/v1/messages", SAY_OK)
    assert status == 200 and json.loads(body)["content"][0]["text"] == "OK"
    for model in ("hosted_vllm/devstral", "claude-cloud"):
        for path in ("/v1/messages", "/v1/chat/completions", "/v1/messages/count_tokens"):
            status, body = call(gateway, ALICE, "POST", path, {**SAY_OK, "model": model})
            assert status == 403 and f"may not use model '{model}'" in body, (path, body)
    status, _body = call(gateway, gateway.master_key, "POST", "/v1/messages", SAY_OK)
    assert status == 200
