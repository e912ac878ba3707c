"""The vLLM stand-in honours vLLM 0.33's interface: flags, endpoints, auth, errors.

Shared helpers for tests/unit/test_standin_vllm_*.py live here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from tests.conftest import STANDIN_SRC

READ_SCHEMA = {
    "type": "object",
    "properties": {"file_path": {"type": "string"}},
    "required": ["file_path"],
}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "Read", "parameters": READ_SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": "Read", "description": "Read a file", "input_schema": READ_SCHEMA}]


def call(backend, path, body=None, key=None, headers=None):
    request = urllib.request.Request(
        backend.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {key or backend.api_key}",
            "content-type": "application/json",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def chat(backend, **body: Any) -> tuple[int, Any]:
    status, text = call(backend, "/v1/chat/completions", {"model": "devstral", **body})
    return status, (text if body.get("stream") and status == 200 else json.loads(text))


def sse_data(text: str) -> list[Any]:
    """The `data:` payloads of an SSE body, JSON-decoded ([DONE] kept as a string)."""
    out = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line[6:]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


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
    """vllm/entrypoints/serve/middleware/authenticate.py AuthenticationMiddleware: Bearer
    only on /v1 paths, 401 {"error": "Unauthorized"}; x-api-key is not accepted."""
    status, body = call(standin_vllm, "/v1/models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "devstral"
    assert json.loads(body)["data"][0]["max_model_len"] == 262144
    assert call(standin_vllm, "/v1/models", key="wrong") == (401, '{"error": "Unauthorized"}')
    request = urllib.request.Request(
        standin_vllm.url + "/v1/models", headers={"x-api-key": standin_vllm.api_key}
    )
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("x-api-key was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    with urllib.request.urlopen(standin_vllm.url + "/health") as response:
        assert response.status == 200
    with urllib.request.urlopen(standin_vllm.url + "/metrics") as response:
        assert "vllm:num_requests_running" in response.read().decode()


def test_unknown_model_is_404_in_each_endpoints_shape(standin_vllm) -> None:
    """OpenAIServingChat._check_model -> ErrorResponse 404; the Anthropic router turns it
    into {"type": "error", "error": {"type": "not_found_error"}} (anthropic/api_router.py
    translate_error_response)."""
    status, body = call(
        standin_vllm,
        "/v1/messages",
        {"model": "gpt-9", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert status == 404
    assert json.loads(body) == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "The model `gpt-9` does not exist."},
    }
    status, body = call(
        standin_vllm,
        "/v1/chat/completions",
        {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert status == 404 and json.loads(body)["error"]["type"] == "NotFoundError"


def test_max_model_len_flag_and_context_length_error() -> None:
    """--max-model-len is vLLM's flag; renderers/params.py TokenizeParams._token_len_check
    and __post_init__ give these messages (400, BadRequestError)."""
    from tests.conftest import Backend, free_port, start_standin

    port = free_port()
    proc = start_standin(port, "k", "--max-model-len", "64")
    try:
        backend = Backend(f"http://127.0.0.1:{port}", "k")
        status, body = chat(backend, messages=[{"role": "user", "content": "word " * 80}])
        assert status == 400
        assert body["error"]["message"].startswith(
            "This model's maximum context length is 64 tokens. However, your prompt contains"
        )
        assert body["error"]["param"] == "input_tokens" and body["error"]["code"] == 400
        # "word " x 80 is 84 tekken tokens (vLLM 0.33.0 counts the same).
        assert body["error"]["message"].endswith(
            "Please reduce the length of the input prompt. (parameter=input_tokens, value=84)"
        )
        status, body = chat(backend, max_tokens=65, messages=[{"role": "user", "content": "x"}])
        # The max_model_len's name and the VLLMValidationError suffix are vLLM 0.33.0's own.
        assert status == 400 and body == {
            "error": {
                "message": "max_tokens=65 cannot be greater than max_model_len=64. Please "
                "request fewer output tokens. (parameter=max_tokens, value=65)",
                "type": "BadRequestError",
                "param": "max_tokens",
                "code": 400,
            }
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
