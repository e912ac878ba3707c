"""The gateway's text-only block rewrite (roles/litellm_gateway/files/ccprov_text_only.py) on
the messages Claude Code sends (Anthropic-shaped) and OpenAI-shaped chat messages."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from tests.conftest import REPO, load_file

text_only = load_file("ccprov_text_only", REPO / "roles/litellm_gateway/files/ccprov_text_only.py")

NOTE = "[image omitted: the self-hosted model devstral reads text only]"
IMAGE = {
    "type": "image",
    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
}
CACHED_TEXT = {"type": "text", "text": "look", "cache_control": {"type": "ephemeral", "ttl": "1h"}}


def conversation() -> list[dict[str, Any]]:
    """A session with every kind of block, in Claude Code's shapes."""
    return [
        {"role": "user", "content": "Plain string content stays as it is."},
        {"role": "user", "content": [IMAGE, CACHED_TEXT]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "text", "text": "Reading."},
                {
                    "type": "tool_use",
                    "id": "rd7Kq2xZ9",
                    "name": "Read",
                    "input": {"file_path": "/a.png"},
                },
                {
                    "type": "tool_use",
                    "id": "ts3Mn8pQ1",
                    "name": "ToolSearch",
                    "input": {"query": "x"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "rd7Kq2xZ9",
                    "content": [IMAGE, {"type": "text", "text": "(2x2)"}],
                    "is_error": False,
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "ts3Mn8pQ1",
                    "content": [{"type": "tool_reference", "tool_name": "WebFetch"}],
                },
                {"type": "tool_result", "tool_use_id": "zz", "content": "a string result"},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                },
            ],
        },
    ]


def test_blocks_become_notes_and_nothing_else_changes() -> None:
    messages = conversation()
    before = copy.deepcopy(messages)
    out, count = text_only.rewrite_messages(messages, "devstral")
    assert count == 4
    assert messages == before, "the input is not modified in place"
    expected = copy.deepcopy(before)
    expected[1]["content"][0] = {"type": "text", "text": NOTE}
    results = expected[3]["content"]
    results[0]["content"][0] = {"type": "text", "text": NOTE}
    results[1]["content"][0] = {"type": "text", "text": "[tool reference: WebFetch]"}
    results[3] = {
        "type": "text",
        "text": "[document omitted: the self-hosted model devstral reads text only]",
    }
    # Byte for byte: same keys in the same order everywhere else.
    assert json.dumps(out) == json.dumps(expected)
    # Messages without such blocks are the very same objects.
    assert out[0] is messages[0] and out[2] is messages[2]
    assert out[3]["content"][2] is messages[3]["content"][2]


def test_string_content_and_text_only_sessions_are_untouched() -> None:
    messages = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "x"}]},
    ]
    out, count = text_only.rewrite_messages(messages, "devstral")
    assert count == 0 and out is messages


def test_idempotent() -> None:
    once, _ = text_only.rewrite_messages(conversation(), "devstral")
    twice, count = text_only.rewrite_messages(once, "devstral")
    assert count == 0 and twice is once


def test_top_level_tool_reference_is_left_alone() -> None:
    """vLLM ignores a tool_reference outside a tool_result; only the nested one fails."""
    messages = [{"role": "user", "content": [{"type": "tool_reference", "tool_name": "Read"}]}]
    assert text_only.rewrite_messages(messages, "devstral") == (messages, 0)


def test_openai_image_parts() -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "see"}, part]}]
    out, count = text_only.rewrite_messages(messages, "devstral")
    assert count == 1
    assert out == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "see"}, {"type": "text", "text": NOTE}],
        }
    ]


def test_odd_shapes_pass_through() -> None:
    for messages in (None, "text", [None, "x", {"role": "user"}, {"content": [1, None]}]):
        assert text_only.rewrite_messages(messages, "devstral") == (messages, 0)


def hook(data: dict[str, Any], text_only_models: set[str]) -> dict[str, Any]:
    logger = text_only.TextOnlyBlocks(text_only=lambda model: model in text_only_models)
    return asyncio.run(logger.async_pre_call_hook(None, None, data, "anthropic_messages"))


def test_hook_rewrites_only_text_only_models() -> None:
    data = {"model": "devstral", "max_tokens": 5, "messages": conversation(), "stream": True}
    out = hook(copy.deepcopy(data), {"devstral"})
    assert [k for k in out] == [k for k in data]
    assert {k: v for k, v in out.items() if k != "messages"} == {
        k: v for k, v in data.items() if k != "messages"
    }
    assert out["messages"] == text_only.rewrite_messages(data["messages"], "devstral")[0]
    # A model that reads images (e.g. an extra cloud model) keeps its blocks.
    other = {**copy.deepcopy(data), "model": "claude-cloud"}
    assert hook(copy.deepcopy(other), {"devstral"}) == other


def test_text_only_model_without_litellm() -> None:
    """Outside LiteLLM's proxy (no router) nothing counts as text-only."""
    assert text_only.is_text_only("devstral") is False
    assert text_only.is_text_only(None) is False
