"""What the vLLM stand-in answers where it was checked against vLLM 0.33.0 itself (the
reference backend, tests/vllm_reference): tekken token counts, vLLM's validation-error
shape, system_fingerprint, text-only refusals. Each test names the vLLM source it copies
(paths inside the vLLM 0.33.0 wheel); the expected values are the reference's answers."""

from __future__ import annotations

import json
import re
import sys

from tests.conftest import STANDIN_SRC
from tests.support.paths import REPO
from tests.support.standin import free_port
from tests.unit.test_standin_vllm import ANTHROPIC_TOOLS, OPENAI_TOOLS, call, chat, sse_data
from tests.unit.test_standin_vllm_anthropic import messages
from tests.vllm_reference import key_sweep

if str(STANDIN_SRC) not in sys.path:
    sys.path.insert(0, str(STANDIN_SRC))

SAY_OK = [{"role": "user", "content": "Say OK"}]
READ_HOSTNAME = [{"role": "user", "content": "Please read /etc/hostname"}]
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}


def count_tokens(backend, body: dict) -> tuple[int, dict]:
    status, text = call(backend, "/v1/messages/count_tokens", {"model": "devstral", **body})
    return status, json.loads(text)


def test_tokenizer_is_the_reference_backends_tekken(tmp_path) -> None:
    """The reference backend's model directory holds the stand-in's tekken file (same
    vocabulary, config and control tokens), so their counts cannot drift."""
    from vllm import tekken

    from tests.vllm_reference import model_dir

    written = model_dir.make(tmp_path / "model")
    assert json.loads((written / "tekken.json").read_text()) == tekken.tekken("v13")


def test_count_tokens_equal_vllms(standin_vllm) -> None:
    """AnthropicServingMessages.count_tokens: the prompt as vllm/tokenizers/mistral.py
    apply_chat_template renders it (mistral-common encode_chat_completion, tekken v13).
    vLLM 0.33.0 counts 5, 67 and 11712 for these three (Claude Code's captured request:
    12 tools, billing header stripped)."""
    assert count_tokens(standin_vllm, {"messages": SAY_OK}) == (
        200,
        {"input_tokens": 5, "context_management": {"original_input_tokens": 5}},
    )
    status, body = count_tokens(standin_vllm, {"messages": READ_HOSTNAME, "tools": ANTHROPIC_TOOLS})
    assert (status, body["input_tokens"]) == (200, 67)
    fixture = REPO / "src/ccprov/probes/conformance_fixtures/claude_code_request.json"
    captured = json.loads(fixture.read_text())["body"]
    request = {k: v for k, v in captured.items() if k not in ("max_tokens", "stream")}
    status, body = count_tokens(standin_vllm, request)
    assert (status, body["input_tokens"]) == (200, 11712)


def test_usage_counts_tekken_tokens_and_eos(standin_vllm) -> None:
    """Completion tokens are the answer's tekken tokens plus </s> (v1/core/sched/utils.py
    check_stop finishes on EOS, which counts): "OK" is 2, a Read call 13
    ([TOOL_CALLS] Read [ARGS] + 9 argument tokens + </s>), as vLLM 0.33.0 reports."""
    status, body = messages(standin_vllm, messages=SAY_OK)
    assert status == 200 and body["content"] == [{"type": "text", "text": "OK"}]
    assert body["usage"] == {"input_tokens": 5, "output_tokens": 2}
    status, body = messages(standin_vllm, messages=READ_HOSTNAME, tools=ANTHROPIC_TOOLS)
    assert body["stop_reason"] == "tool_use"
    assert body["usage"] == {"input_tokens": 67, "output_tokens": 13}
    status, body = chat(standin_vllm, messages=SAY_OK)
    assert {k: body["usage"][k] for k in ("prompt_tokens", "completion_tokens")} == {
        "prompt_tokens": 5,
        "completion_tokens": 2,
    }


def test_chat_validation_errors_are_vllm_validation_errors(standin_vllm) -> None:
    """chat_completion/protocol.py validators raise VLLMValidationError (vllm/exceptions.py:
    "<message> (parameter=P)"), answered as BadRequestError with param P; a missing field
    is still pydantic's error via validation_exception_handler."""

    def refused(message: str, param: str, **body) -> None:
        status, got = chat(standin_vllm, **body)
        assert (status, got) == (
            400,
            {
                "error": {
                    "message": f"{message} (parameter={param})",
                    "type": "BadRequestError",
                    "param": param,
                    "code": 400,
                }
            },
        )

    refused(
        'Invalid value for `tool_choice`: bogus! Only named tools, "none", "auto" or '
        '"required" are supported.',
        "tool_choice",
        messages=SAY_OK,
        tools=OPENAI_TOOLS,
        tool_choice="bogus",
    )
    refused(
        "`tools` must not be an empty array. Either provide at least one tool or omit the "
        "field entirely.",
        "tools",
        messages=SAY_OK,
        tools=[],
    )
    refused(
        "Stream options can only be defined when `stream=True`.",
        "stream_options",
        messages=SAY_OK,
        stream_options={"include_usage": True},
    )
    refused(
        "When using `tool_choice`, `tools` must be set.",
        "tool_choice",
        messages=SAY_OK,
        tool_choice="required",
    )
    status, body = call(standin_vllm, "/v1/chat/completions", {"model": "devstral"})
    assert (status, json.loads(body)) == (
        400,
        {
            "error": {
                "message": "1 validation error:\n  {'type': 'missing', 'loc': 'body.messages', "
                "'msg': 'Field required', 'input': '<dict of 1 items>'}",
                "type": "Bad Request",
                "param": "body.messages",
                "code": 400,
            }
        },
    )


def test_reasoning_effort_on_messages(standin_vllm) -> None:
    """tokenizers/mistral.py validate_request_params with mistral-common 1.12.0's
    ReasoningEffort (none, high): output_config.effort low (and thinking disabled, which
    becomes reasoning_effort low) is a 400 on /v1/messages; high passes."""
    expected = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "reasoning_effort=low is not supported by Mistral models. Supported "
            "values are: ['none', 'high']. (parameter=reasoning_effort)",
        },
    }
    assert messages(standin_vllm, messages=SAY_OK, output_config={"effort": "low"}) == (
        400,
        expected,
    )
    assert messages(standin_vllm, messages=SAY_OK, thinking={"type": "disabled"}) == (
        400,
        expected,
    )
    assert messages(standin_vllm, messages=SAY_OK, output_config={"effort": "high"})[0] == 200


def test_system_fingerprint(standin_vllm) -> None:
    """entrypoints/serve/utils/fingerprint.py build_system_fingerprint (mode full):
    vllm-<version>-tp2-<hash8> for the seed's --tensor-parallel-size 2, on full responses;
    in a stream on the terminal chunk, or on the usage chunk when one follows
    (chat_completion/serving.py)."""
    from vllm import __version__

    status, body = chat(standin_vllm, messages=SAY_OK)
    fingerprint = body["system_fingerprint"]
    assert status == 200
    assert re.fullmatch(rf"vllm-{re.escape(__version__)}-tp2-[0-9a-f]{{8}}", fingerprint)
    assert chat(standin_vllm, messages=SAY_OK)[1]["system_fingerprint"] == fingerprint
    _status, text = chat(standin_vllm, stream=True, messages=SAY_OK)
    frames = sse_data(text)[:-1]
    assert [f.get("system_fingerprint") for f in frames] == [None, None, fingerprint]
    _status, text = chat(
        standin_vllm, stream=True, stream_options={"include_usage": True}, messages=SAY_OK
    )
    frames = sse_data(text)[:-1]
    assert [f.get("system_fingerprint") for f in frames] == [None, None, None, fingerprint]


def test_images_are_refused_text_only_model(standin_vllm) -> None:
    """renderers/chat_utils.py parse_chat_messages -> multimodal/registry.py
    create_processor: ValueError("devstral is not a multimodal model"), a 400 on chat
    completions (param null) and, as an invalid_request_error, on /v1/messages and
    count_tokens, for an image in a user message or inside a tool_result
    (anthropic/serving.py _convert_user_tool_result sends it as a user image message)."""
    image_url = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}
    status, body = chat(
        standin_vllm,
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, image_url]}],
    )
    assert (status, body) == (
        400,
        {
            "error": {
                "message": "devstral is not a multimodal model",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
    )
    refused = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "devstral is not a multimodal model"},
    }
    in_user = [{"role": "user", "content": [{"type": "text", "text": "hi"}, IMAGE]}]
    assert messages(standin_vllm, messages=in_user) == (400, refused)
    assert count_tokens(standin_vllm, {"messages": in_user}) == (400, refused)
    in_result = tool_result_turn([{"type": "text", "text": "x"}, IMAGE])
    assert messages(standin_vllm, messages=in_result, tools=ANTHROPIC_TOOLS) == (400, refused)


def tool_result_turn(content: list[dict]) -> list[dict]:
    use = {"type": "tool_use", "id": "abcdefghi", "name": "Read", "input": {"file_path": "/x"}}
    result = {"type": "tool_result", "tool_use_id": "abcdefghi", "content": content}
    return [
        {"role": "user", "content": "Please read /x"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [result]},
    ]


def test_tool_reference_in_tool_result_is_refused(standin_vllm) -> None:
    """anthropic/serving.py _convert_user_tool_result turns tool_reference items into a tool
    message whose content is those references; mistral-common refuses the chunk type and
    renderers/mistral.py safe_apply_chat_template makes it a 400."""
    turn = tool_result_turn([{"type": "tool_reference", "tool_name": "Read"}])
    assert messages(standin_vllm, messages=turn, tools=ANTHROPIC_TOOLS) == (
        400,
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "'tool_reference' is not a valid ChunkTypes",
            },
        },
    )
    call_ = {"id": "abcdefghi", "type": "function", "function": {"name": "Read", "arguments": "{}"}}
    status, body = chat(
        standin_vllm,
        tools=OPENAI_TOOLS,
        messages=[
            *READ_HOSTNAME,
            {"role": "assistant", "tool_calls": [call_]},
            {
                "role": "tool",
                "tool_call_id": "abcdefghi",
                "content": [{"type": "tool_reference", "name": "Read"}],
            },
        ],
    )
    assert (status, body["error"]) == (
        400,
        {
            "message": "'tool_reference' is not a valid ChunkTypes",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    )


def test_named_tool_choice_forces_that_tool(standin_vllm) -> None:
    """parser/mistral.py adjust_request: a named tool_choice is a grammar that allows only
    that call; vLLM 0.33.0 answers "Say OK" with Read({"file_path": "x"}), content "",
    finish_reason stop (resolve_finish_reason: a forced named tool), 11 completion tokens."""
    named = {"type": "function", "function": {"name": "Read"}}
    status, body = chat(standin_vllm, tools=OPENAI_TOOLS, tool_choice=named, messages=SAY_OK)
    choice = body["choices"][0]
    assert status == 200 and choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == ""
    assert [
        (c["function"]["name"], c["function"]["arguments"]) for c in choice["message"]["tool_calls"]
    ] == [("Read", '{"file_path": "x"}')]
    assert body["usage"]["completion_tokens"] == 11


def test_a_call_cut_off_before_its_arguments_still_opens(standin_vllm) -> None:
    """parser/mistral.py + streaming_parser_engine.py finish(): when max_tokens ends the
    answer after `[TOOL_CALLS]` or the name, vLLM 0.33.0 still sends the call on the final
    chunk (finish_reason length), with the name so far and no arguments; in /v1/messages
    that is a tool_use block with input {} and stop_reason max_tokens."""
    for max_tokens, name in ((1, ""), (2, "Read")):
        status, text = chat(
            standin_vllm,
            stream=True,
            max_tokens=max_tokens,
            tools=OPENAI_TOOLS,
            messages=READ_HOSTNAME,
        )
        chunks = [c for c in sse_data(text) if isinstance(c, dict) and c.get("choices")]
        last = chunks[-1]["choices"][0]
        assert status == 200 and last["finish_reason"] == "length"
        (call_delta,) = last["delta"]["tool_calls"]
        assert call_delta["function"] == {"name": name, "arguments": ""}
        assert len(call_delta["id"]) == 9
    status, text = messages(
        standin_vllm, stream=True, max_tokens=2, tools=ANTHROPIC_TOOLS, messages=READ_HOSTNAME
    )
    starts = [
        json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ") and '"content_block_start"' in line
    ]
    assert [s["content_block"]["name"] for s in starts] == ["Read"]
    assert '"stop_reason":"max_tokens"' in text.replace(" ", "")


# vLLM 0.33.0's routes outside the prefixes its own key check guards, as the reference's
# start log lists them (tests/vllm_reference/test_key_guard.py sweeps every real route on
# both): plain vLLM answers all of these without the key.
VLLM_OUTSIDE_V1 = {
    "/invocations": {"POST"},
    "/tokenize": {"POST"},
    "/detokenize": {"POST"},
    "/generative_scoring": {"POST"},
    "/scale_elastic_ep": {"POST"},
    "/is_scaling_elastic_ep": {"POST"},
    "/ping": {"GET", "POST"},
    "/load": {"GET"},
    "/version": {"GET"},
    "/kv_event_sources": {"GET"},
    "/openapi.json": {"GET", "HEAD"},
    "/docs": {"GET", "HEAD"},
}
STANDIN_ROUTES = {
    "/health": {"GET"},
    "/metrics": {"GET"},
    "/v1/models": {"GET"},
    "/v1/chat/completions": {"POST"},
    "/v1/messages": {"POST"},
    "/v1/messages/count_tokens": {"POST"},
}
GUARD_KEY = "sk-guard-0123456789abcdef0123456789abcdef"


def guarded_args(port: int, middleware: str = "ccprov_vllm_guard.KeyGuard") -> list[str]:
    return [
        "serve",
        "mistralai/Devstral-2-123B-Instruct-2512",
        "--served-model-name",
        "devstral",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--middleware",
        middleware,
    ]


def test_the_key_guard_closes_every_path_but_health_and_metrics() -> None:
    """`--middleware ccprov_vllm_guard.KeyGuard` (the vllm_server role's) runs in the stand-in
    as vLLM runs it (serve/middleware/register.py): 401 without the key on every path, its
    own and vLLM's, whatever the method or spelling, except GET /health and /metrics."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with key_sweep.standin(guarded_args(port), GUARD_KEY) as proc:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        sent = key_sweep.requests({**STANDIN_ROUTES, **VLLM_OUTSIDE_V1})
        assert key_sweep.wrong_answers(url, GUARD_KEY, sent) == []
        bearer = {"Authorization": f"Bearer {GUARD_KEY}"}
        assert key_sweep.status(url, "GET", "/v1/models", bearer) == 200
        assert key_sweep.status(url, "GET", "/version", bearer) == 200


def test_without_the_guard_only_v1_needs_the_key(standin_vllm) -> None:
    """Plain vLLM 0.33.0 (serve/middleware/authenticate.py GUARDED_PREFIX): the reference
    answered /version without the key and /v1/models with 401; the stand-in too."""
    assert key_sweep.status(standin_vllm.url, "GET", "/version", {}) == 200
    assert key_sweep.status(standin_vllm.url, "GET", "/v1/models", {}) == 401


def test_a_middleware_that_does_not_import_stops_the_start() -> None:
    """vLLM imports each --middleware while building its app: a wrong path or a unit
    without the guard's directory on PYTHONPATH fails the start (the role's health gate
    then rolls back) instead of serving unguarded."""
    port = free_port()
    with key_sweep.standin(guarded_args(port, "ccprov_vllm_guard_x.KeyGuard"), GUARD_KEY) as proc:
        assert proc.wait(timeout=15) != 0
        assert proc.stderr is not None
        assert b"No module named 'ccprov_vllm_guard_x'" in proc.stderr.read()
