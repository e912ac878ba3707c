"""The vLLM stand-in honours vLLM's interface: flags, endpoints, auth, tool-call ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.conftest import STANDIN_SRC


def call(backend, path, body=None, key=None):
    request = urllib.request.Request(
        backend.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {key or backend.api_key}",
            "content-type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def vllm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(STANDIN_SRC)}
    return subprocess.run(
        [sys.executable, "-m", "vllm", *args], env=env, capture_output=True, text=True
    )


def test_unknown_flags_are_refused_like_vllm() -> None:
    proc = vllm("serve", "m", "--no-such-flag")
    assert proc.returncode == 2 and "unrecognized arguments: --no-such-flag" in proc.stderr
    assert "stand-in" in vllm("--version").stdout


def test_models_health_metrics_and_auth(standin_vllm) -> None:
    status, body = call(standin_vllm, "/v1/models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "devstral"
    assert call(standin_vllm, "/v1/models", key="wrong")[0] == 401
    with urllib.request.urlopen(standin_vllm.url + "/health") as response:
        assert response.status == 200
    with urllib.request.urlopen(standin_vllm.url + "/metrics") as response:
        assert "vllm:num_requests_running" in response.read().decode()


def test_chat_completion_and_tool_call(standin_vllm) -> None:
    status, body = call(
        standin_vllm,
        "/v1/chat/completions",
        {"model": "devstral", "messages": [{"role": "user", "content": "Say READY"}]},
    )
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "READY"
    tools = [{"type": "function", "function": {"name": "Read", "parameters": {}}}]
    status, body = call(
        standin_vllm,
        "/v1/chat/completions",
        {
            "model": "devstral",
            "tools": tools,
            "messages": [{"role": "user", "content": "Read /etc/os-release please"}],
        },
    )
    call_ = json.loads(body)["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(call_["function"]["arguments"]) == {"file_path": "/etc/os-release"}
    assert len(call_["id"]) == 9 and call_["id"].isalnum()


@pytest.mark.parametrize("tool_id", ["toolu_01ABCDEFGHIJ", "short", "abc-defgh"])
def test_non_mistral_tool_ids_are_refused(standin_vllm, tool_id) -> None:
    messages = [
        {"role": "user", "content": "Read /x"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": tool_id, "type": "function", "function": {"name": "Read", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": tool_id, "content": "data"},
    ]
    status, body = call(
        standin_vllm, "/v1/chat/completions", {"model": "devstral", "messages": messages}
    )
    assert status == 400 and "must be a-z, A-Z, 0-9, with a length of 9" in body


def test_unknown_model_is_404(standin_vllm) -> None:
    status, body = call(
        standin_vllm,
        "/v1/messages",
        {"model": "gpt-9", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert status == 404 and "The model `gpt-9` does not exist." in body


def test_anthropic_stream_events(standin_vllm) -> None:
    status, body = call(
        standin_vllm,
        "/v1/messages",
        {
            "model": "devstral",
            "max_tokens": 5,
            "stream": True,
            "messages": [{"role": "user", "content": "Say STREAM"}],
        },
    )
    events = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert status == 200
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "content_block_delta" in events
