"""The gateway's Anthropic field repair (roles/litellm_gateway/files/ccprov_anthropic_fields.py,
issue #30): disable_parallel_tool_use carried as parallel_tool_calls, a non-streamed reply's
stop_sequence kept. The real gateway's path is tests/conformance (checks
tool-choice-disable-parallel and non-stream-fields on both routes)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import REPO, load_file

fields = load_file(
    "ccprov_anthropic_fields", REPO / "roles/litellm_gateway/files/ccprov_anthropic_fields.py"
)


def pre(body: dict[str, Any], call_type: str = "anthropic_messages") -> dict[str, Any]:
    return asyncio.run(fields.AnthropicFields().async_pre_call_hook(None, None, body, call_type))


def post(response: Any) -> Any:
    return asyncio.run(fields.AnthropicFields().async_post_call_success_hook({}, None, response))


def test_disabled_parallel_use_becomes_parallel_tool_calls_false() -> None:
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    assert pre({"model": "devstral", "tool_choice": choice})["parallel_tool_calls"] is False


def test_other_tool_choices_and_other_calls_are_untouched() -> None:
    for choice in ({"type": "auto"}, {"type": "any", "disable_parallel_tool_use": False}, "auto"):
        body = {"model": "devstral", "tool_choice": choice}
        assert pre(dict(body)) == body
    # A caller's own value wins; a chat request is not an Anthropic body.
    own = {
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "parallel_tool_calls": True,
    }
    assert pre(dict(own)) == own
    chat = {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}
    assert pre(dict(chat), "acompletion") == chat


def test_a_message_without_stop_sequence_gets_null_after_stop_reason() -> None:
    message = {"id": "m", "type": "message", "stop_reason": "end_turn", "usage": {}}
    fixed = post(message)
    assert list(fixed) == ["id", "type", "stop_reason", "stop_sequence", "usage"]
    assert fixed["stop_sequence"] is None


def test_replies_that_have_it_or_are_not_messages_pass_unchanged() -> None:
    kept = {"type": "message", "stop_reason": "stop_sequence", "stop_sequence": "_STOP"}
    assert post(kept) is kept
    for other in ({"type": "error", "error": {}}, {"object": "chat.completion"}, "text", None):
        assert post(other) is other
