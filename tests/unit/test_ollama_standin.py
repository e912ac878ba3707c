"""The Ollama stand-in (tests/standins/ollama) does what Ollama's own code does where ccprov
depends on it. Each test names the lines of github.com/ollama/ollama fb30760 it checks."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ollama_standin import LocalServer, running_ollama

SAY_OK = {
    "model": "devstral",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say OK"}],
}


@pytest.fixture(scope="module")
def ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with running_ollama(tmp_path_factory.mktemp("ollama"), "--num-ctx", "65536") as server:
        yield server


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """Nothing sets num_ctx and the GPU has under 23 GiB: Ollama's default of 4096."""
    with running_ollama(tmp_path_factory.mktemp("ollama-small")) as server:
        yield server


def call(
    server: LocalServer, path: str, body: Any = None, method: str | None = None
) -> tuple[int, str, str]:
    """(status, content type, body text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in text.strip().split("\n\n"):
        kind, data = frame.split("\n")
        out.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # middleware/anthropic.go:742-755
        ({"model": ""}, "model is required"),
        ({"max_tokens": 0}, "max_tokens is required and must be positive"),
        ({"messages": []}, "messages is required"),
        # :736-739, Go's encoding/json binding anthropic.MessagesRequest
        ({"max_tokens": "64"}, "cannot unmarshal string into Go struct field"),
        # anthropic/anthropic.go:459-466, 997-1000
        (
            {"messages": [{"role": "assistant", "content": [
                {"type": "tool_use", "name": "Read"}]}]},
            "tool_use block missing required 'id' field",
        ),
        (
            {"messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]},
            "Only base64 images are supported.",
        ),
    ],
)  # fmt: skip
def test_refuses_what_ollama_refuses(
    ollama: LocalServer, change: dict[str, Any], message: str
) -> None:
    status, ctype, text = call(ollama, "/v1/messages", {**SAY_OK, **change})
    assert status == 400 and ctype.startswith("application/json")
    body = json.loads(text)
    # anthropic.NewError (anthropic.go:38-62): Anthropic's error shape with a request id.
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert message in body["error"]["message"]
    assert re.fullmatch(r"req_[0-9a-f]{24}", body["request_id"])


def test_takes_any_key_and_ignores_unknown_fields(ollama: LocalServer) -> None:
    """No key check on any route (docs/api/anthropic-compatibility.mdx:397); unknown JSON
    fields are dropped by Go's decoder (anthropic.go:67-82 has no context_management)."""
    body = {**SAY_OK, "context_management": {"edits": []}, "thinking": {"type": "adaptive"}}
    status, _, text = call(ollama, "/v1/messages", body)
    assert status == 200, text
    reply = json.loads(text)
    # ToMessagesResponse (anthropic.go:656-696): no stop_sequence (omitempty), model as asked.
    assert reply["content"] == [{"type": "text", "text": "OK"}]
    assert reply["stop_reason"] == "end_turn" and "stop_sequence" not in reply
    assert reply["model"] == "devstral" and re.fullmatch(r"msg_[0-9a-f]{24}", reply["id"])


def test_unknown_model_is_an_anthropic_404(ollama: LocalServer) -> None:
    """ChatHandler's 404 (server/routes.go:2481-2491) through writeError."""
    status, _, text = call(ollama, "/v1/messages", {**SAY_OK, "model": "qwen3-coder"})
    assert status == 404
    assert json.loads(text)["error"] == {
        "type": "not_found_error",
        "message": "model 'qwen3-coder' not found",
    }


def test_no_count_tokens_route(ollama: LocalServer) -> None:
    """routes.go:1925-1926 registers /v1/messages only; gin answers the rest in plain
    text, 405 for a registered path with another method (HandleMethodNotAllowed, :1870)."""
    assert call(ollama, "/v1/messages/count_tokens?beta=true", SAY_OK)[::2] == (
        404,
        "404 page not found",
    )
    assert call(ollama, "/v1/messages", method="GET")[::2] == (405, "405 method not allowed")


def test_streamed_text_events(ollama: LocalServer) -> None:
    """StreamConverter.Process (anthropic.go:749-980): no ping; message_start carries the
    chars/4 estimate (:752-758, EstimateCountTokens :1095-1118), message_delta the count."""
    status, ctype, text = call(ollama, "/v1/messages", {**SAY_OK, "stream": True})
    assert status == 200 and ctype == "text/event-stream"
    seen = events(text)
    assert [kind for kind, _ in seen] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert seen[0][1]["message"]["usage"] == {"input_tokens": len("userSay OK") // 4,
                                              "output_tokens": 0}  # fmt: skip
    assert seen[1][1]["content_block"] == {"type": "text", "text": ""}
    assert seen[2][1]["delta"] == {"type": "text_delta", "text": "OK"}
    assert seen[4][1]["delta"] == {"stop_reason": "end_turn"}


def test_streamed_tool_call_events(ollama: LocalServer, tmp_path: Path) -> None:
    """A tool call is one block: start with input {}, the whole arguments in one
    input_json_delta, stop (anthropic.go:861-932); ids are call_ + 8 (routes.go:2305-2312)."""
    read = {"name": "Read", "description": "Read a file", "input_schema": {
        "type": "object", "properties": {"file_path": {"type": "string"}},
        "required": ["file_path"]}}  # fmt: skip
    body = {**SAY_OK, "stream": True, "tools": [read],
            "messages": [{"role": "user", "content": f"Read {tmp_path}/a.txt"}]}  # fmt: skip
    seen = events(call(ollama, "/v1/messages", body)[2])
    start = seen[1][1]["content_block"]
    assert start["type"] == "tool_use" and start["input"] == {}
    assert re.fullmatch(r"call_[a-z0-9]{8}", start["id"])
    assert seen[2][1]["delta"] == {
        "type": "input_json_delta",
        "partial_json": json.dumps({"file_path": f"{tmp_path}/a.txt"}, separators=(",", ":")),
    }
    assert seen[-2][1]["delta"] == {"stop_reason": "tool_use"}
    # Without stream, the same reply whole (ToMessagesResponse, anthropic.go:656-696).
    whole = json.loads(call(ollama, "/v1/messages", {**body, "stream": False})[2])
    (block,) = whole["content"]
    assert block == {**start, "id": block["id"], "input": {"file_path": f"{tmp_path}/a.txt"}}
    assert whole["stop_reason"] == "tool_use" and whole["usage"] == seen[-2][1]["usage"]


def test_show_tags_and_ps(ollama: LocalServer, small: LocalServer) -> None:
    """/api/show (routes.go:1396-1598): the GGUF's <arch>.context_length, the Modelfile's
    parameters as "%-30s %#v"; /api/tags and /v1/models list the full name (:latest,
    types/model/name.go:231-249); /api/ps the context a loaded model got (:2271-2303)."""
    shown = json.loads(call(ollama, "/api/show", {"model": "devstral"})[2])
    assert shown["model_info"]["llama.context_length"] == 131072
    assert shown["parameters"] == f"{'num_ctx':<30} 65536"
    assert "parameters" not in json.loads(call(small, "/api/show", {"model": "devstral"})[2])
    assert call(ollama, "/api/show", {"model": "nope"})[0] == 404
    assert call(ollama, "/api/show", {})[0:3:2] == (400, '{"error":"model is required"}\n')
    tags = json.loads(call(small, "/api/tags")[2])
    assert [m["name"] for m in tags["models"]] == ["devstral:latest"]
    assert json.loads(call(small, "/v1/models")[2])["data"][0]["id"] == "devstral:latest"
    call(small, "/v1/messages", SAY_OK)
    loaded = json.loads(call(small, "/api/ps")[2])["models"]
    assert [(m["name"], m["context_length"]) for m in loaded] == [("devstral:latest", 4096)]


def test_the_window_comes_from_num_ctx_env_or_vram(tmp_path: Path) -> None:
    """modelOptions (routes.go:129-133): OLLAMA_CONTEXT_LENGTH, else the VRAM tier
    (:2048-2057); never above the trained context (server/sched.go:149-150)."""
    cases = [
        (("--vram-gib", "24"), 32768),
        (("--vram-gib", "48"), 131072),  # 262144, capped by the model's 131072
        (("--context-length", "8192"), 8192),
        (("--context-length", "8192", "--num-ctx", "16384"), 16384),  # the Modelfile wins
    ]
    for flags, window in cases:
        with running_ollama(tmp_path, *flags) as server:
            call(server, "/v1/messages", SAY_OK)
            assert server.requests()[0]["num_ctx"] == window, flags


def test_a_small_window_loses_claude_codes_prompt_without_an_error(
    ollama: LocalServer, small: LocalServer
) -> None:
    """Claude Code 2.1.331 sends [user, system] (its environment as a last system turn).
    chatPrompt (server/prompt.go:35-74) keeps system messages and the last message, dropping
    from the front: on 4096 tokens the user's own words go, and the answer is 200 anyway."""
    body = {
        **SAY_OK,
        "system": [{"type": "text", "text": "You are Claude Code. " * 900}],
        "tools": [{"name": f"Tool{i}", "description": "does things " * 100,
                   "input_schema": {"type": "object"}} for i in range(6)],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say OK"}]},
            {"role": "system", "content": [{"type": "text", "text": "# Environment " * 50}]},
        ],
    }  # fmt: skip
    status, _, text = call(small, "/v1/messages", body)
    assert status == 200
    assert json.loads(text)["content"][0]["text"] != "OK"  # it never saw "Say OK"
    cut = small.requests()[-1]
    assert cut["truncated"] and cut["dropped_messages"] == 1 and cut["tools_seen"] == 0
    assert json.loads(call(ollama, "/v1/messages", body)[2])["content"][0]["text"] == "OK"
    whole = ollama.requests()[-1]
    assert not whole["truncated"] and whole["tools_seen"] == 6 and whole["system_kept"]


def test_a_prompt_over_the_window_is_cut_from_the_front(small: LocalServer) -> None:
    """The runner (llm/llama_server.go:279-319): still over num_ctx - 1 tokens after
    chatPrompt, it keeps num_keep (4, api/types.go:1102) + BOS tokens and the tail; the
    system prompt at the front is what goes."""
    body = {**SAY_OK, "system": "Rules: " + "always be careful. " * 3000}
    status, _, text = call(small, "/v1/messages", body)
    assert status == 200 and json.loads(text)["content"][0]["text"] == "OK"
    cut = small.requests()[-1]
    assert cut["cut_tokens"] > 0 and not cut["system_kept"]
    assert cut["prompt_tokens"] == 4096 - (4096 - 5) // 2
