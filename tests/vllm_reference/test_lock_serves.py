"""The role's vLLM lock serves: vLLM's own code, installed from it, answers Claude Code's
captured request; the lock it replaced (mistral-common 1.13.1) refuses every request.

vLLM 0.33.0 declares `mistral_common[image]>=1.11.6` with no upper bound, and its
vllm/parser/mistral.py `MistralToolParser.adjust_request` calls
`GrammarFactory.get_lark_from_jinja(template, mode, tools, json_schema, parallel_tool_calls,
json_only)`. mistral-common 1.13 made `force_tool_names` a required argument of that method
(mistral_common/guidance/grammar_factory.py), so every request to a tekken v11+ model served
with `--tool-call-parser mistral` is a 400. 1.12.0 has the old signature; its
`ReasoningEffort` accepts only `none` and `high`, which the gateway makes moot: it drops
Claude Code's thinking and effort before vLLM (test_gateway_drops_what_1_12_refuses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from ccprov.probes import conformance
from tests.support import pins, vllm_reference
from tests.support.standin import Backend, free_port
from tests.vllm_reference.conftest import REFERENCE_KEY

LOCK = pins.lock_file("vllm")


def captured(target: Backend) -> conformance.Reply:
    """Claude Code 2.1.331's first request of a session, as captured, unchanged."""
    ctx = conformance.Context(
        conformance.Target(target.url, target.api_key, "devstral"), conformance.FIXTURES
    )
    fixture = ctx.fixture("claude_code_request.json")
    return ctx.post(fixture["path"], fixture["body"], headers=fixture["headers"])


def post(target: Backend, path: str, body: dict[str, Any]) -> conformance.Reply:
    ctx = conformance.Context(
        conformance.Target(target.url, target.api_key, "devstral"), conformance.FIXTURES
    )
    return ctx.post(path, {"model": "devstral", **body})


def test_the_lock_pins_the_mistral_common_that_serves() -> None:
    pinned = dict(re.findall(r"^([a-z0-9-]+)==(\S+) \\", LOCK.read_text(), re.M))
    assert pinned["mistral-common"] == "1.12.0"
    # A lock refresh (uv pip compile vllm-<version>.in) keeps the pin: it is in the input.
    assert "mistral-common==1.12.0" in LOCK.with_suffix(".in").read_text()


def test_captured_claude_code_request_gets_200(reference) -> None:
    reply = captured(reference)
    assert reply.status == 200, reply.body[:300]
    events = reply.events()
    assert conformance.stream_problems(events) == []
    answer = conformance.assemble(events)
    assert answer.stop_reason == "end_turn" and answer.text
    # The prompt as vLLM counts it in a real tekken vocabulary, its tools included: what
    # count_tokens says for the same body (Claude Code compacts by these counts).
    body = {
        k: v
        for k, v in json.loads((conformance.FIXTURES / "claude_code_request.json").read_text())[
            "body"
        ].items()
        if k not in ("stream", "max_tokens")
    }
    counted = post(reference, "/v1/messages/count_tokens", body).json()["input_tokens"]
    assert answer.usage["input_tokens"] == counted > 5_000


@pytest.fixture(scope="module")
def reference_with_old_lock(tmp_path_factory) -> Iterator[Backend]:
    """The same reference with mistral-common 1.13.1 (the lock before) in place of 1.12.0."""
    old = vllm_reference.OLD_MISTRAL_COMMON
    assert (old / "mistral_common").is_dir(), vllm_reference.INSTALL_HINT
    port = free_port()
    proc = vllm_reference.start_reference(
        tmp_path_factory.mktemp("reference-1.13.1"), port, REFERENCE_KEY, mistral_common_first=old
    )
    try:
        yield Backend(f"http://127.0.0.1:{port}", REFERENCE_KEY)
    finally:
        vllm_reference.stop(proc)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"max_tokens": 16, "messages": [{"role": "user", "content": "Say OK"}]}),
        ("/v1/messages/count_tokens", {"messages": [{"role": "user", "content": "Say OK"}]}),
        (
            "/v1/chat/completions",
            {"max_tokens": 16, "messages": [{"role": "user", "content": "Say OK"}]},
        ),
    ],
)
def test_the_old_lock_refuses_every_request(reference_with_old_lock, path, body) -> None:
    reply = post(reference_with_old_lock, path, body)
    assert reply.status == 400
    assert "force_tool_names" in reply.body.decode()


def test_the_old_lock_refuses_claude_codes_request(reference_with_old_lock) -> None:
    reply = captured(reference_with_old_lock)
    assert reply.status == 400 and "force_tool_names" in reply.body.decode()


THINKING_AND_EFFORT = [
    {"thinking": {"type": "disabled"}},
    {"thinking": {"type": "adaptive"}},
    *({"output_config": {"effort": e}} for e in ("low", "medium", "high", "xhigh", "max")),
]


@pytest.mark.parametrize("extra", THINKING_AND_EFFORT, ids=json.dumps)
def test_gateway_drops_what_1_12_refuses(reference, reference_gateway, extra) -> None:
    """Every thinking and effort setting Claude Code sends gets 200 through the gateway on
    both routes; straight to vLLM, 1.12.0 refuses the efforts it does not know."""
    _route, gateway = reference_gateway
    body = {"max_tokens": 16, "messages": [{"role": "user", "content": "Say OK"}], **extra}
    through = post(Backend(gateway.url, gateway.master_key), "/v1/messages", body)
    assert through.status == 200, through.body[:300]
    assert conformance._text_of(through.json()) == "OK"
    direct = post(reference, "/v1/messages", body)
    effort = (extra.get("output_config") or {}).get("effort")
    if effort in ("low", "medium", "xhigh", "max") or extra.get("thinking") == {"type": "disabled"}:
        assert direct.status == 400
        assert "is not supported by Mistral models" in direct.body.decode()
    else:
        assert direct.status == 200


def test_named_tool_choice_forces_that_tool(reference, reference_gateway) -> None:
    """With 1.12.0 a named tool_choice gets a grammar for that tool (1.13.x refused it:
    "Named tool choices are only supported by get_grammar_for_chat_request")."""
    _route, gateway = reference_gateway
    tools = [
        {
            "name": name,
            "description": f"{name} tool",
            "input_schema": {
                "type": "object",
                "properties": {"arg": {"type": "string"}},
                "required": ["arg"],
            },
        }
        for name in ("Read", "Bash")
    ]
    body = {
        "max_tokens": 64,
        "tools": tools,
        "tool_choice": {"type": "tool", "name": "Bash"},
        "messages": [{"role": "user", "content": "Say OK"}],
    }
    for target in (reference, Backend(gateway.url, gateway.master_key)):
        reply = post(target, "/v1/messages", body)
        assert reply.status == 200, reply.body[:300]
        message = reply.json()
        calls = [b for b in message["content"] if b["type"] == "tool_use"]
        assert [c["name"] for c in calls] == ["Bash"] and set(calls[0]["input"]) == {"arg"}
