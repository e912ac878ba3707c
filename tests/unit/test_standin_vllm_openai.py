"""vLLM 0.33's /v1/chat/completions as the stand-in copies it (one test per behaviour; each
names the vLLM file and function it copies)."""

from __future__ import annotations

import json

from tests.unit.test_standin_vllm import OPENAI_TOOLS, chat, sse_data

USER = [{"role": "user", "content": "Say READY"}]


def test_stream_role_chunk_token_deltas_finish_usage_done(standin_vllm) -> None:
    """chat_completion/serving.py chat_completion_stream_generator(_raw): a role chunk
    (content ""), one content delta per token, the last token's chunk carries
    finish_reason and stop_reason, a usage chunk with empty choices, then [DONE]."""
    status, text = chat(
        standin_vllm,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Say Hello-world.again"}],
    )
    frames = sse_data(text)
    assert status == 200 and frames[-1] == "[DONE]"
    assert frames[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [f["choices"][0]["delta"].get("content") for f in frames[1:-2]]
    assert "".join(p for p in pieces if p) == "Hello-world.again" and len(pieces) > 3
    final = frames[-3]["choices"][0]
    assert final["finish_reason"] == "stop" and final["stop_reason"] is None
    usage = frames[-2]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(pieces)
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + len(pieces)


def test_stream_tool_call_first_fragment_then_one_per_token(standin_vllm) -> None:
    """parser/mistral.py + parser/engine/parser_engine.py _events_to_delta: the call opens
    with index, a 9-char id (MistralToolCall.generate_random_id), type, name and the first
    argument fragment; then one fragment per tekken token; the closing brace is held back
    (streaming_parser_engine.py _feed_args_char/_flush_safe_args) and arrives on the chunk
    that carries finish_reason tool_calls (serve/utils/tool_calls_utils.py
    resolve_finish_reason). Fragments and counts as vLLM 0.33.0 streams them."""
    _status, text = chat(
        standin_vllm,
        stream=True,
        stream_options={"include_usage": True},
        tools=OPENAI_TOOLS,
        messages=[{"role": "user", "content": "Please read /etc/hostname"}],
    )
    frames = [f for f in sse_data(text) if f != "[DONE]"]
    calls = [c for f in frames[:-1] for c in f["choices"][0]["delta"].get("tool_calls", [])]
    head = calls[0]
    assert head["index"] == 0 and head["type"] == "function"
    assert len(head["id"]) == 9 and head["id"].isalnum()
    assert head["function"] == {"name": "Read", "arguments": '{"'}
    assert all(set(c) == {"index", "function"} for c in calls[1:])
    fragments = [c["function"]["arguments"] for c in calls]
    assert fragments == ['{"', "file", "_path", '":', ' "/', "etc", "/", "hostname", '"', "}"]
    last = frames[-2]["choices"][0]
    assert last["delta"] == {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}
    assert last["finish_reason"] == "tool_calls"
    # [TOOL_CALLS] Read [ARGS] + 9 argument tokens + </s>; the prompt as vLLM renders it.
    usage = frames[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (63, 13)


def test_text_then_tool_call_and_parallel_calls(standin_vllm) -> None:
    """Canned triggers: "explain then read PATH" -> text then a call; two paths -> two
    parallel calls with indexes 0 and 1 (parser_engine.py tool_index starts at 0)."""
    _status, text = chat(
        standin_vllm,
        stream=True,
        tools=OPENAI_TOOLS,
        messages=[{"role": "user", "content": "Please explain then read /etc/hosts"}],
    )
    deltas = [f["choices"][0]["delta"] for f in sse_data(text)[1:-1]]
    kinds = [("tool" if "tool_calls" in d else "text") for d in deltas if d]
    assert kinds.index("tool") > 0 and "text" not in kinds[kinds.index("tool") :]
    _status, body = chat(
        standin_vllm,
        tools=OPENAI_TOOLS,
        messages=[{"role": "user", "content": "Read /etc/hosts and /etc/passwd"}],
    )
    calls = body["choices"][0]["message"]["tool_calls"]
    assert [json.loads(c["function"]["arguments"])["file_path"] for c in calls] == [
        "/etc/hosts",
        "/etc/passwd",
    ]
    _status, text = chat(
        standin_vllm,
        stream=True,
        tools=OPENAI_TOOLS,
        messages=[{"role": "user", "content": "Read /etc/hosts and /etc/passwd"}],
    )
    heads = [
        c
        for f in sse_data(text)[1:-1]
        for c in f["choices"][0]["delta"].get("tool_calls", [])
        if "id" in c
    ]
    assert [c["index"] for c in heads] == [0, 1]
    _status, body = chat(
        standin_vllm,
        tools=OPENAI_TOOLS,
        parallel_tool_calls=False,
        messages=[{"role": "user", "content": "Read /etc/hosts and /etc/passwd"}],
    )
    assert len(body["choices"][0]["message"]["tool_calls"]) == 1  # maybe_filter_parallel_...


def test_max_tokens_and_stop_sequences(standin_vllm) -> None:
    """serve/utils/api_utils.py get_max_tokens: output cut at max_tokens, finish_reason
    length (also inside tool arguments: resolve_finish_reason keeps length); a stop string
    -> finish_reason stop and stop_reason = the string, text before it only."""
    _status, body = chat(standin_vllm, max_tokens=3, messages=[{"role": "user", "content": "hi"}])
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 3
    _status, text = chat(
        standin_vllm,
        stream=True,
        max_tokens=8,
        tools=OPENAI_TOOLS,
        messages=[{"role": "user", "content": "Read /etc/os-release"}],
    )
    frames = sse_data(text)
    assert frames[-2]["choices"][0]["finish_reason"] == "length"
    _status, body = chat(
        standin_vllm, stop=["stand-in"], messages=[{"role": "user", "content": "hi"}]
    )
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["stop_reason"] == "stand-in"
    assert choice["message"]["content"] == "I am the vLLM "


def test_tool_choice_none_required_named(standin_vllm) -> None:
    """parser/mistral.py MistralToolParser.adjust_request (grammar modes) and
    message_assembly.py keeps_tool_calls: none -> no call; required -> a call even for
    "Say X" (finish tool_calls); named -> that tool, finish stop (forced named tool)."""
    read = [{"role": "user", "content": "Read /etc/hosts"}]
    status, body = chat(standin_vllm, tools=OPENAI_TOOLS, tool_choice="none", messages=read)
    assert "tool_calls" not in body["choices"][0]["message"]  # vLLM 0.33.0 omits it
    status, body = chat(standin_vllm, tools=OPENAI_TOOLS, tool_choice="required", messages=USER)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {
        "file_path": "x"
    }
    tools = [*OPENAI_TOOLS, {"type": "function", "function": {"name": "Bash", "parameters": {}}}]
    named = {"type": "function", "function": {"name": "Bash"}}
    status, body = chat(standin_vllm, tools=tools, tool_choice=named, messages=read)
    choice = body["choices"][0]
    assert [c["function"]["name"] for c in choice["message"]["tool_calls"]] == ["Bash"]
    assert choice["finish_reason"] == "stop"
    status, body = chat(standin_vllm, tool_choice="required", messages=USER)
    assert status == 400 and body["error"]["param"] == "tool_choice"  # check_tool_usage


def test_mid_stream_error_frame(standin_vllm) -> None:
    """chat_completion/serving.py: an engine error after streaming began is sent as
    `data: {"error": {...}}` (ErrorResponse) and the stream still ends with [DONE]."""
    status, text = chat(
        standin_vllm, stream=True, messages=[{"role": "user", "content": "STANDIN_MIDSTREAM_ERROR"}]
    )
    frames = sse_data(text)
    assert status == 200 and frames[-1] == "[DONE]"
    assert frames[-2] == {
        "error": {
            "message": "Internal server error",
            "type": "InternalServerError",
            "param": None,
            "code": 500,
        }
    }
    assert any(f["choices"][0]["delta"].get("content") for f in frames[1:-2])


def test_validation_like_vllm_and_mistral_common(standin_vllm) -> None:
    """mistral_common's validator (tool names ^[a-zA-Z0-9_-]{1,64}$, Draft-7 schemas),
    tokenizers/mistral.py validate_request_params (chat_template, reasoning_effort) and
    truncate_tool_call_ids (last 9 characters), in vLLM's OpenAI error body."""
    bad_name = [{"type": "function", "function": {"name": "bad name", "parameters": {}}}]
    status, body = chat(standin_vllm, tools=bad_name, messages=USER)
    assert status == 400 and body["error"]["type"] == "BadRequestError"
    assert body["error"]["message"].startswith("Function name was bad name but must be")
    bad_schema = [{"type": "function", "function": {"name": "T", "parameters": {"type": 5}}}]
    status, body = chat(standin_vllm, tools=bad_schema, messages=USER)
    assert status == 400 and "Invalid tool schema" in body["error"]["message"]
    status, body = chat(standin_vllm, chat_template="{{x}}", messages=USER)
    assert body["error"]["message"] == (
        "chat_template is not supported for Mistral tokenizers. (parameter=chat_template)"
    )
    # mistral-common 1.12.0's ReasoningEffort: none and high only (vLLM 0.33.0 says so).
    status, body = chat(standin_vllm, reasoning_effort="low", messages=USER)
    assert status == 400 and body == {
        "error": {
            "message": "reasoning_effort=low is not supported by Mistral models. Supported "
            "values are: ['none', 'high']. (parameter=reasoning_effort)",
            "type": "BadRequestError",
            "param": "reasoning_effort",
            "code": 400,
        }
    }
    assert chat(standin_vllm, reasoning_effort="high", messages=USER)[0] == 200
    assert chat(standin_vllm, reasoning_effort="none", messages=USER)[0] == 200

    def history(tool_id: str) -> list[dict]:
        call = {"id": tool_id, "type": "function", "function": {"name": "Read", "arguments": "{}"}}
        return [
            {"role": "user", "content": "Read /x"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": tool_id, "content": "data"},
        ]

    status, body = chat(standin_vllm, tools=OPENAI_TOOLS, messages=history("toolu_01ABCDEFGHIJ"))
    assert status == 200 and body["choices"][0]["message"]["content"].startswith("The tool")
    status, body = chat(standin_vllm, tools=OPENAI_TOOLS, messages=history("null"))
    assert status == 400 and "Tool call id must be a non-empty string" in body["error"]["message"]
