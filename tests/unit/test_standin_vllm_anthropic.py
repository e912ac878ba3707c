"""vLLM 0.33's Anthropic endpoints (vllm/entrypoints/anthropic/{serving,protocol}.py) as the
stand-in copies them."""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.conftest import STANDIN_SRC
from tests.unit.test_standin_vllm import ANTHROPIC_TOOLS, call

if str(STANDIN_SRC) not in sys.path:  # the stand-in's own modules, for converter tests
    sys.path.insert(0, str(STANDIN_SRC))


def messages(backend, **body: Any) -> tuple[int, Any]:
    payload = {"model": "devstral", "max_tokens": 1000, **body}
    status, text = call(backend, "/v1/messages", payload, headers={"anthropic-beta": "x-1"})
    return status, (text if body.get("stream") and status == 200 else json.loads(text))


def events(text: str) -> list[tuple[str, dict]]:
    lines = text.splitlines()
    return [
        (lines[i][7:], json.loads(lines[i + 1][6:]))
        for i in range(len(lines) - 1)
        if lines[i].startswith("event: ")
    ]


def test_stream_lazy_blocks_text_deltas_tool_use_and_usage(standin_vllm) -> None:
    """serving.py message_stream_converter: message_start with the prompt's input_tokens,
    blocks opened lazily, one text_delta per token, tool_use opened with input {} then one
    input_json_delta per fragment, message_delta with input and output tokens, no ping."""
    _status, text = messages(
        standin_vllm,
        stream=True,
        tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": "Explain then read /etc/hosts"}],
    )
    evs = events(text)
    names = [n for n, _ in evs]
    assert names[0] == "message_start" and names[-1] == "message_stop" and "ping" not in names
    start = evs[0][1]["message"]
    assert start["usage"]["input_tokens"] > 0 and start["usage"]["output_tokens"] == 0
    blocks = [d["content_block"] for n, d in evs if n == "content_block_start"]
    assert blocks[0] == {"type": "text", "text": ""}
    assert blocks[1]["type"] == "tool_use" and blocks[1]["input"] == {}
    assert len(blocks[1]["id"]) == 9
    texts = [d["delta"]["text"] for n, d in evs if d.get("delta", {}).get("type") == "text_delta"]
    assert len(texts) > 3 and "".join(texts) == "I will read /etc/hosts first."
    parts = [
        d["delta"]["partial_json"] for n, d in evs if n == "content_block_delta" and d["index"] == 1
    ]
    assert len(parts) > 3 and json.loads("".join(parts)) == {"file_path": "/etc/hosts"}
    delta = evs[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"]["input_tokens"] == start["usage"]["input_tokens"]
    assert delta["usage"]["output_tokens"] > len(texts) + len(parts)


def test_text_while_tool_block_open_is_emitted_after_it() -> None:
    """message_stream_converter: content arriving while a tool_use block is open goes to
    pending_content and becomes its own text block after the tool block is closed."""
    from vllm.anthropic import stream_converter

    head = {"id": "chatcmpl-1", "model": "devstral"}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    call_ = {
        "index": 0,
        "id": "abcdefghi",
        "type": "function",
        "function": {"name": "Read", "arguments": "{}"},
    }
    chunks = [
        {**head, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 0}},
        chunk({"tool_calls": [call_]}),
        chunk({"content": "late "}),
        chunk({"content": "text"}, "tool_calls"),
        {**head, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4}},
    ]
    chunks[0]["choices"] = [{"index": 0, "delta": {"role": "assistant", "content": ""}}]
    evs = events("".join(stream_converter(chunks)))
    starts = [
        (d["index"], d["content_block"]["type"]) for n, d in evs if n == "content_block_start"
    ]
    assert starts == [(0, "tool_use"), (1, "text")]
    assert [
        d["delta"]["text"] for n, d in evs if d.get("delta", {}).get("type") == "text_delta"
    ] == ["late text"]


def test_stop_reasons(standin_vllm) -> None:
    """serving.py _to_anthropic_stop_reason: end_turn, max_tokens, stop_sequence, tool_use
    (non-streaming: messages_full_converter, stop_sequence omitted when None)."""
    hi = [{"role": "user", "content": "hi"}]
    assert (
        messages(standin_vllm, messages=[{"role": "user", "content": "Say OK"}])[1]["stop_reason"]
        == "end_turn"
    )
    assert messages(standin_vllm, max_tokens=2, messages=hi)[1]["stop_reason"] == "max_tokens"
    body = messages(standin_vllm, stop_sequences=["vLLM"], messages=hi)[1]
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "vLLM")
    body = messages(
        standin_vllm,
        tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": "Read /etc/hosts"}],
    )[1]
    assert body["stop_reason"] == "tool_use" and body["content"][0]["input"] == {
        "file_path": "/etc/hosts"
    }
    _status, text = messages(
        standin_vllm,
        stream=True,
        max_tokens=8,
        tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": "Read /etc/hosts"}],
    )
    assert events(text)[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_system_billing_header_inline_system_and_ignored_fields(standin_vllm) -> None:
    """serving.py _convert_system_message: billing header stripped; inline system messages
    merged into the leading system prompt (merge_inline_system: no chat template for the
    Mistral tokenizer); cache_control/metadata/context_management/anthropic-beta ignored;
    count_tokens counts the same rendered prompt (tools included)."""
    from vllm.anthropic import to_chat_completion_request

    body = {
        "model": "devstral",
        "max_tokens": 100,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=1; cch=abc;"},
            {
                "type": "text",
                "text": "You are helpful.",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            },
        ],
        "messages": [
            {"role": "user", "content": "Say A"},
            {"role": "system", "content": " Reminder."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Say B", "cache_control": {"type": "ephemeral"}}
                ],
            },
        ],
        "metadata": {"user_id": "{}"},
        "context_management": {"edits": []},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
    }
    req = to_chat_completion_request(body)
    assert req["messages"][0] == {"role": "system", "content": "You are helpful. Reminder."}
    assert [m["role"] for m in req["messages"]] == ["system", "user", "user"]
    assert req["reasoning_effort"] == "high" and "thinking_token_budget" not in req
    status, reply = messages(standin_vllm, **{k: v for k, v in body.items() if k != "model"})
    assert status == 200 and reply["content"] == [{"type": "text", "text": "B"}]
    count_body = {k: v for k, v in body.items() if k != "max_tokens"}
    status, counted = call(standin_vllm, "/v1/messages/count_tokens", count_body)
    assert json.loads(counted)["input_tokens"] == reply["usage"]["input_tokens"]
    status, with_tools = call(
        standin_vllm, "/v1/messages/count_tokens", {**count_body, "tools": ANTHROPIC_TOOLS}
    )
    assert json.loads(with_tools)["input_tokens"] > json.loads(counted)["input_tokens"]


def test_thinking_enabled_is_refused_without_reasoning_parser(standin_vllm) -> None:
    """thinking.type=enabled -> thinking_token_budget (serving.py _handle_thinking), which
    v1/engine/input_processor.py refuses without --reasoning-parser: 400 when not
    streaming, an `error` event when streaming (the 200 has started)."""
    thinking = {"type": "enabled", "budget_tokens": 1024}
    hi = [{"role": "user", "content": "hi"}]
    status, body = messages(standin_vllm, max_tokens=4096, thinking=thinking, messages=hi)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("thinking_token_budget is set but reasoning_config")
    status, text = messages(
        standin_vllm, max_tokens=4096, stream=True, thinking=thinking, messages=hi
    )
    assert [n for n, _ in events(text)] == ["error"]
    status, body = messages(
        standin_vllm, thinking={"type": "enabled", "budget_tokens": 10}, messages=hi
    )
    assert status == 400 and body["error"]["type"] == "Bad Request"  # protocol.py ge=1024


def test_request_validation(standin_vllm) -> None:
    """protocol.py AnthropicMessagesRequest: tools need input_schema, unknown content block
    types and efforts are refused (vLLM's global validation handler, OpenAI-shaped);
    mistral_common refuses bad tool names/schemas (Anthropic-shaped 400)."""
    hi = [{"role": "user", "content": "hi"}]
    status, body = messages(standin_vllm, tools=[{"name": "Read"}], messages=hi)
    assert status == 400 and body["error"]["param"] == "body.tools.0.input_schema"
    status, body = messages(
        standin_vllm, messages=[{"role": "user", "content": [{"type": "document"}]}]
    )
    assert status == 400 and body["error"]["param"] == "body.messages.0.content.0.type"
    status, body = messages(standin_vllm, output_config={"effort": "turbo"}, messages=hi)
    assert status == 400 and body["error"]["param"] == "body.output_config.effort"
    status, body = messages(standin_vllm, tools=[{"name": "a b", "input_schema": {}}], messages=hi)
    assert status == 400 and body["type"] == "error"
    assert body["error"]["message"].startswith("Function name was a b but must be")
    schema = {"type": "object", "properties": {"x": {"type": "nope"}}}
    status, body = messages(
        standin_vllm, tools=[{"name": "T", "input_schema": schema}], messages=hi
    )
    assert status == 400 and "Invalid tool schema" in body["error"]["message"]
    history = [
        {"role": "user", "content": "Read /x"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_01XYZabcdefgh", "name": "Read", "input": {}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01XYZabcdefgh", "content": "data"}
            ],
        },
    ]
    status, body = messages(standin_vllm, tools=ANTHROPIC_TOOLS, messages=history)
    assert status == 200 and body["content"][0]["text"] == "The tool returned:\ndata"
