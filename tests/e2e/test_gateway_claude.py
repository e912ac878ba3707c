"""The real Claude Code CLI through the real pinned LiteLLM gateway to the vLLM stand-in,
with the workstation role's variables (as `cc-local` sets them)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.e2e.test_cc_local import onboard

pytestmark = pytest.mark.slow


def test_claude_says_ok_through_the_gateway(developer, gateway, tmp_path) -> None:
    onboard(developer, gateway_backend(gateway), tmp_path)
    proc = developer.run('cc-local -p "Say OK" --output-format text')
    assert proc.returncode == 0, proc.stdout + proc.stderr + gateway.log.read_text()[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "OK"


def test_read_tool_round_trip_through_the_gateway(developer, gateway, tmp_path) -> None:
    onboard(developer, gateway_backend(gateway), tmp_path)
    notes = developer.home / "plan.txt"
    notes.write_text("step one: rotate the keys\n")
    notes.chmod(0o644)
    proc = developer.run(f'cc-local -p "Read {notes} and tell me step one" --output-format text')
    assert proc.returncode == 0, proc.stdout + proc.stderr + gateway.log.read_text()[-2000:]
    assert "rotate the keys" in proc.stdout


def gateway_backend(gateway):
    from tests.conftest import Backend

    return Backend(gateway.url, gateway.master_key)


# Parameters LiteLLM derives from Claude Code's requests that vLLM may reject
# (litellm_gateway_additional_drop_params): they must never reach the backend.
DROPPED = ("reasoning_effort", "prompt_cache_key")


def test_claude_codes_requests_reach_the_backend_without_dropped_params(
    developer, gateway, tmp_path
) -> None:
    onboard(developer, gateway_backend(gateway), tmp_path)
    before = len(gateway.backend_requests())
    proc = developer.run('cc-local -p "Say OK" --output-format text')
    assert proc.returncode == 0, proc.stdout + proc.stderr + gateway.log.read_text()[-2000:]
    sent = [r["body"] for r in gateway.backend_requests()[before:]]
    assert sent, "the backend got no request"
    for body in sent:
        assert not set(DROPPED) & set(body), sorted(body)


def test_thinking_requests_are_answered_without_reasoning_effort(gateway) -> None:
    """A thinking/effort request (what Claude Code sends to models it thinks can reason)
    becomes reasoning_effort in LiteLLM's translation; the gateway drops it."""
    before = len(gateway.backend_requests())
    reply = post_messages(
        gateway,
        {
            "model": "devstral",
            "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "metadata": {"user_id": "user_ccprov_session_0123"},
            "messages": [{"role": "user", "content": "Say OK"}],
        },
    )
    assert [b["text"] for b in reply["content"] if b["type"] == "text"] == ["OK"]
    (body,) = [r["body"] for r in gateway.backend_requests()[before:]]
    assert not set(DROPPED) & set(body), sorted(body)


def post_messages(gateway, body: dict) -> dict:
    request = urllib.request.Request(
        gateway.url + "/v1/messages",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {gateway.master_key}",
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())
