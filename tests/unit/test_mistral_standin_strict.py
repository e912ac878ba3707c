"""The Mistral API stand-in refuses what the real API refuses (tests/standins/mistral_api,
README "What it refuses"): the spec's shapes (PyPI `mistralai` 3.7.0, generated from
Mistral's OpenAPI spec) with extra fields forbidden, an assistant turn with content and
tool calls, a tool_choice object other than the spec's one, tool-call ids that are not 9
alphanumerics. Each refusal here is one a stand-in that accepted it would hide."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.paths import REPO
from tests.support.standin import free_port

STANDIN = REPO / "tests/standins/mistral_api/mistral_api_standin.py"
KEY = "sk-mistral-unit-0123456789"
MODEL = "devstral-medium-latest"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "Read",
            "description": "Reads a file.",
            "parameters": {
                "type": "object",
                "properties": {"file_path": {"type": "string"}},
                "required": ["file_path"],
            },
        },
    }
]
CALL = {
    "id": "aB3xK9mP2",
    "type": "function",
    "function": {"name": "Read", "arguments": '{"file_path": "/etc/hostname"}'},
}
USER = {"role": "user", "content": "Read /etc/hostname"}


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(STANDIN),
            "--port",
            str(port),
            "--api-key",
            KEY,
            "--max-context",
            "4096",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    deadline = time.monotonic() + 15
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            except urllib.error.HTTPError:
                break  # 401: it answers
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "no stand-in"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def post(url: str, **body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"model": MODEL, **body}).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def detail(status: int, body: Any) -> list[dict[str, Any]]:
    """A 422's detail list, checked against the client's HTTPValidationErrorData /
    ValidationError (mistralai/client/errors/httpvalidationerror.py,
    mistralai/client/models/validationerror.py): loc (str | int items), msg, type."""
    assert status == 422, (status, body)
    assert set(body) == {"detail"} and body["detail"], body
    for item in body["detail"]:
        assert {"loc", "msg", "type"} <= set(item) <= {"loc", "msg", "type", "input", "ctx"}
        assert item["loc"][0] == "body"
        assert all(isinstance(part, str | int) for part in item["loc"])
        assert isinstance(item["msg"], str) and isinstance(item["type"], str)
    return body["detail"]


# --- What it takes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool_choice",
    ["auto", "none", "any", "required", {"type": "function", "function": {"name": "Read"}}],
)
def test_takes_the_spec_tool_choices(api: str, tool_choice: Any) -> None:
    """models/toolchoiceenum.py and models/toolchoice.py (`type` defaults to function)."""
    status, body = post(api, messages=[USER], tools=TOOLS, tool_choice=tool_choice)
    assert status == 200, body
    calls = body["choices"][0]["message"]["tool_calls"]
    assert (calls is None) == (tool_choice == "none"), body


def test_takes_a_tool_round_trip_in_the_apis_own_shape(api: str) -> None:
    """Empty content beside tool calls passes (github/copilot-cli#4884), ids of 9."""
    messages = [
        USER,
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": CALL["id"], "name": "Read", "content": "host-one"},
    ]
    status, body = post(api, messages=messages, tools=TOOLS, stream=False, max_tokens=64)
    assert status == 200, body
    assert "host-one" in body["choices"][0]["message"]["content"]


def test_any_forces_a_tool_call(api: str) -> None:
    """`any` is Mistral's `required` (LiteLLM maps required to any)."""
    messages = [{"role": "user", "content": "Say HI"}]
    status, body = post(api, messages=messages, tools=TOOLS, tool_choice="any")
    assert status == 200 and body["choices"][0]["finish_reason"] == "tool_calls", body


# --- 1. An assistant turn with content and tool calls ------------------------------------


def test_refuses_content_and_tool_calls_in_one_assistant_turn(api: str) -> None:
    """mistral_common _validate_assistant_message; 422 on the API (github/copilot-cli#4884)."""
    messages = [
        USER,
        {"role": "assistant", "content": "I will read it.", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": CALL["id"], "content": "host-one"},
    ]
    (item,) = detail(*post(api, messages=messages, tools=TOOLS))
    assert item["type"] == "value_error" and item["loc"] == ["body", "messages", 1, "assistant"]
    assert item["msg"].endswith("must have either content or tool_calls, but not both.")


def test_refuses_content_chunks_and_tool_calls_too(api: str) -> None:
    content = [{"type": "text", "text": "I will read it."}]
    messages = [USER, {"role": "assistant", "content": content, "tool_calls": [CALL]}]
    (item,) = detail(*post(api, messages=messages, tools=TOOLS))
    assert "but not both" in item["msg"]


def test_refuses_an_assistant_turn_with_neither(api: str) -> None:
    """OpenHands/OpenHands#8685: "... but not none."."""
    messages = [USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "Hi"}]
    (item,) = detail(*post(api, messages=messages))
    assert item["msg"].endswith("but not none.")


# --- 2. A tool_choice object other than the spec's ---------------------------------------


@pytest.mark.parametrize(
    "tool_choice",
    [
        {"type": "tool", "name": "Read"},  # Anthropic's, passed through untranslated
        {"type": "any"},  # Anthropic's
        {"type": "auto"},
        {"type": "function", "name": "Read"},  # OpenAI Responses'
        {"type": "function", "function": {"name": "Read"}, "strict": True},
        {"function": {}},
    ],
)
def test_refuses_other_tool_choice_objects(api: str, tool_choice: dict[str, Any]) -> None:
    """ChatCompletionRequestToolChoice = Union[ToolChoice, ToolChoiceEnum]
    (models/chatcompletionrequest.py); kyaukyuai/gpt-all-star#670 for the 422."""
    problems = detail(*post(api, messages=[USER], tools=TOOLS, tool_choice=tool_choice))
    assert all(p["loc"][:3] == ["body", "tool_choice", "ToolChoice"] for p in problems)


@pytest.mark.parametrize("tool_choice", ["function", "tool", "Read", 1])
def test_refuses_other_tool_choice_values(api: str, tool_choice: Any) -> None:
    (item,) = detail(*post(api, messages=[USER], tools=TOOLS, tool_choice=tool_choice))
    assert item["loc"][:2] == ["body", "tool_choice"]


# --- 3. Fields the spec does not have ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream_options", {"include_usage": True}),
        ("max_completion_tokens", 64),
        ("seed", 1),
        ("user", "dev"),
        ("store", False),
        ("thinking", {"type": "enabled", "budget_tokens": 1024}),
        ("reasoning", {"effort": "high"}),
    ],
)
def test_refuses_unknown_top_level_fields(api: str, field: str, value: Any) -> None:
    """Only ChatCompletionRequest's fields (Gitlawb/openclaude#739: store,
    max_completion_tokens)."""
    (item,) = detail(*post(api, messages=[USER], **{field: value}))
    assert item == {
        "type": "extra_forbidden",
        "loc": ["body", field],
        "msg": "Extra inputs are not permitted",
        "input": value,
    }


@pytest.mark.parametrize(
    ("message", "loc"),
    [
        ({"role": "user", "content": "Hi", "name": "dev"}, [0, "user", "name"]),
        (
            {"role": "assistant", "content": "Hi", "reasoning_content": "\n"},
            [0, "assistant", "reasoning_content"],
        ),
        (
            {"role": "assistant", "tool_calls": [{**CALL, "extra": 1}]},
            [0, "assistant", "tool_calls", 0, "extra"],
        ),
        (
            {"role": "system", "content": "Be brief.", "cache_control": {}},
            [0, "system", "cache_control"],
        ),
    ],
)
def test_refuses_unknown_fields_in_messages(
    api: str, message: dict[str, Any], loc: list[Any]
) -> None:
    """The message models forbid extras too (charmbracelet/crush#1590,
    Gage-Technologies/mistral-go#2)."""
    messages = [message, {"role": "user", "content": "Say OK"}]
    problems = detail(*post(api, messages=messages))
    assert ["body", "messages", *loc] in [p["loc"] for p in problems], problems


def test_the_spec_fields_are_all_taken(api: str) -> None:
    body = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "stream": False,
        "stop": ["\n\n"],
        "random_seed": 1,
        "metadata": {"k": "v"},
        "response_format": {"type": "text"},
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "n": 1,
        "parallel_tool_calls": True,
        "prompt_cache_key": "session",
        "safe_prompt": False,
    }
    status, reply = post(api, messages=[{"role": "user", "content": "Say OK"}], **body)
    assert status == 200 and reply["choices"][0]["message"]["content"] == "OK", reply


# --- 4. Tool-call ids that are not 9 alphanumerics -----------------------------------------


@pytest.mark.parametrize(
    "ident", ["toolu_01D7FLrfh4GYq7yT1ULFeyMV", "call_abc12", "aB3xK9mP", "aB3xK9mP2x", "aB3x-9mP2"]
)
@pytest.mark.parametrize("where", ["tool_calls", "tool_result"])
def test_refuses_tool_call_ids_that_are_not_9_alphanumerics(
    api: str, ident: str, where: str
) -> None:
    """mistral_common _validate_tool_call_id / _validate_tool_message_id; the API's 400
    (langchain-ai/langchain#24668, openclaw/openclaw#23740)."""
    call = {**CALL, "id": ident if where == "tool_calls" else CALL["id"]}
    result = ident if where == "tool_result" else CALL["id"]
    messages = [
        USER,
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": result, "content": "host-one"},
    ]
    status, body = post(api, messages=messages, tools=TOOLS)
    assert status == 400, body
    assert body == {
        "object": "error",
        "message": f"Tool call id was {ident} but must be a-z, A-Z, 0-9, with a length of 9.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


# --- Limits ---------------------------------------------------------------------------------


def test_max_tokens_cuts_the_answer_and_drops_the_half_call(api: str) -> None:
    status, body = post(api, messages=[USER], tools=TOOLS, max_tokens=3)
    assert status == 200, body
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["tool_calls"] is None
    assert body["usage"]["completion_tokens"] <= 3


def test_prompt_plus_max_tokens_over_the_context_is_a_400(api: str) -> None:
    """models/chatcompletionrequest.py, max_tokens: prompt + max_tokens <= context."""
    words = {"role": "user", "content": "Say OK " + "word " * 5000}
    status, body = post(api, messages=[words])
    assert status == 400 and body["type"] == "invalid_request_error", body
    status, _ = post(api, messages=[{"role": "user", "content": "Say OK"}], max_tokens=4000)
    assert status == 200
    status, _ = post(api, messages=[{"role": "user", "content": "Say OK"}], max_tokens=4100)
    assert status == 400
