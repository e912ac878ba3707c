"""The vibe proxy's hooks (roles/workstation/files/ccprov_vibe.py) on their own; through the
real LiteLLM and the strict Mistral API stand-in in tests/e2e/test_vibe_conformance.py."""

from __future__ import annotations

import asyncio
import copy
import re
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import REPO, load_file

vibe = load_file("ccprov_vibe", REPO / "roles/workstation/files/ccprov_vibe.py")

LONG = "toolu_01D7FLrfh4GYq7yT1ULFeyMV"
READ = {"file_path": "/etc/hostname"}


def anthropic_turns(text: str, ident: str = LONG) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Read /etc/hostname"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Read it.", "signature": "c2ln"},
                {"type": "text", "text": text},
                {"type": "tool_use", "id": ident, "name": "Read", "input": READ},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": ident, "content": "host-one"}],
        },
    ]


def test_ids_become_9_alphanumerics_the_same_every_time() -> None:
    new = vibe.mistral_id(LONG)
    assert re.fullmatch(r"[A-Za-z0-9]{9}", new)
    assert vibe.mistral_id(LONG) == new != vibe.mistral_id(LONG + "x")
    assert vibe.mistral_id("aB3xK9mP2") == "aB3xK9mP2"
    assert vibe.mistral_id(None) is None
    many = {vibe.mistral_id(f"call_{n}") for n in range(5000)}
    assert len(many) == 5000


def test_anthropic_text_and_call_become_two_turns_under_a_shared_id() -> None:
    messages = anthropic_turns("I will read it first.")
    before = copy.deepcopy(messages)
    out, changed = vibe.rewrite(messages, anthropic=True)
    assert messages == before, "the caller's messages are not changed in place"
    assert changed == 2 and len(out) == 4
    assert [b["type"] for b in out[1]["content"]] == ["thinking", "text"]
    assert [b["type"] for b in out[2]["content"]] == ["tool_use"]
    assert out[1]["role"] == out[2]["role"] == "assistant"
    ident = out[2]["content"][0]["id"]
    assert ident == vibe.mistral_id(LONG) == out[3]["content"][0]["tool_use_id"]
    assert out[0] is messages[0]
    assert vibe.rewrite(out, anthropic=True) == (out, 0), "idempotent"


def test_anthropic_call_alone_keeps_its_turn() -> None:
    messages = anthropic_turns("")
    out, changed = vibe.rewrite(messages, anthropic=True)
    assert changed == 2 and len(out) == 3
    assert [b["type"] for b in out[1]["content"]] == ["thinking", "text", "tool_use"]


def test_nothing_to_change_is_the_same_list() -> None:
    messages = anthropic_turns("", ident="aB3xK9mP2")
    assert vibe.rewrite(messages, anthropic=True) == (messages, 0)
    assert vibe.rewrite(messages, anthropic=True)[0] is messages
    assert vibe.rewrite("not a list", anthropic=True) == ("not a list", 0)


def test_openai_text_and_calls_become_two_turns_under_a_shared_id() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "Read /etc/hostname"},
        {"role": "assistant", "content": "I will read it.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "host-one"},
    ]
    out, changed = vibe.rewrite(messages, anthropic=False)
    assert changed == 2
    assert out[1] == {"role": "assistant", "content": "I will read it."}
    assert out[2]["content"] is None and out[2]["tool_calls"][0]["id"] == vibe.mistral_id("call_1")
    assert out[3]["tool_call_id"] == out[2]["tool_calls"][0]["id"]
    assert vibe.rewrite(out, anthropic=False) == (out, 0)


@pytest.mark.parametrize(
    ("call_type", "anthropic"),
    [("anthropic_messages", True), ("acompletion", False), ("aembedding", None)],
)
def test_the_hook_rewrites_by_call_type(call_type: str, anthropic: bool | None) -> None:
    messages = anthropic_turns("Reading.")
    data = {"model": "devstral-medium", "messages": messages}
    out = asyncio.run(vibe.mistral_shapes.async_pre_call_hook(None, None, data, call_type))
    if anthropic:
        assert len(out["messages"]) == 4
    else:  # OpenAI-shaped rules on Anthropic content change nothing; embeddings: untouched
        assert out["messages"] is messages


def test_disabled_parallel_use_reaches_the_api_as_parallel_tool_calls_false() -> None:
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    data = {"model": "devstral-medium", "messages": [], "tool_choice": choice}
    out = asyncio.run(
        vibe.mistral_shapes.async_pre_call_hook(None, None, data, "anthropic_messages")
    )
    assert out["parallel_tool_calls"] is False
    plain = {"model": "devstral-medium", "messages": [], "tool_choice": {"type": "auto"}}
    out = asyncio.run(
        vibe.mistral_shapes.async_pre_call_hook(None, None, dict(plain), "anthropic_messages")
    )
    assert "parallel_tool_calls" not in out


class Headers(dict):
    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


def test_the_key_comes_as_bearer_or_x_api_key() -> None:
    assert vibe.key_from_headers(Headers(authorization="Bearer sk-a"), None) == "sk-a"
    assert vibe.key_from_headers(Headers({"x-api-key": "sk-b"}), None) == "sk-b"
    assert vibe.key_from_headers(Headers(), "sk-c") == "sk-c"
    assert vibe.key_from_headers(Headers(), None) == ""


def test_only_the_master_key_matches() -> None:
    assert vibe.key_matches("sk-vibe-1", "sk-vibe-1")
    assert not vibe.key_matches("sk-vibe-2", "sk-vibe-1")
    assert not vibe.key_matches("", "")


def test_a_streamed_turn_asks_for_one_call_at_a_time_only_where_calls_cannot_be_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the hook cannot reach the adapter's chat stream (SPLITS false: another LiteLLM),
    one call per streamed turn loses none; where it can, the model may call in parallel."""
    tools = [{"name": "Read", "input_schema": {"type": "object"}}]

    def hooked(**body: Any) -> dict[str, Any]:
        data = {"model": "devstral-medium", "messages": [], **body}
        return asyncio.run(
            vibe.mistral_shapes.async_pre_call_hook(None, None, data, "anthropic_messages")
        )

    monkeypatch.setattr(vibe, "SPLITS", False)
    assert hooked(stream=True, tools=tools)["parallel_tool_calls"] is False
    # The client's own choice stands; unstreamed turns and turns without tools are as sent.
    assert hooked(stream=True, tools=tools, parallel_tool_calls=True)["parallel_tool_calls"]
    assert "parallel_tool_calls" not in hooked(stream=False, tools=tools)
    assert "parallel_tool_calls" not in hooked(stream=True)
    monkeypatch.setattr(vibe, "SPLITS", True)
    assert "parallel_tool_calls" not in hooked(stream=True, tools=tools)


def chunk(*calls: Any, content: Any = None) -> SimpleNamespace:
    delta = SimpleNamespace(role="assistant", content=content, tool_calls=list(calls) or None)
    return SimpleNamespace(choices=[SimpleNamespace(delta=delta, finish_reason=None)])


def call(name: str | None, arguments: str) -> SimpleNamespace:
    return SimpleNamespace(id=f"id{name}", function=SimpleNamespace(name=name, arguments=arguments))


def test_a_delta_with_two_whole_calls_becomes_two_chunks() -> None:
    """The Mistral API streams a turn's calls in one delta; the adapter reads one call per
    chunk (the conformance check tool-calls-parallel-stream shows it on the real proxy)."""
    pieces = vibe.one_call_each(chunk(call("Read", '{"a": 1}'), call("Grep", '{"b": 2}')))
    assert [[c.function.name for c in p.choices[0].delta.tool_calls] for p in pieces] == [
        ["Read"],
        ["Grep"],
    ]
    assert [p.choices[0].delta.role for p in pieces] == ["assistant", None]


def test_other_chunks_pass_as_they_are() -> None:
    one = chunk(call("Read", "{}"))
    # Arguments continued for two calls at once (no names): not whole calls, not split.
    continued = chunk(call(None, '"x"'), call(None, '"y"'))
    text = chunk(content="hello")
    for same in (one, continued, text, SimpleNamespace(choices=[])):
        assert vibe.one_call_each(same) == [same]


def test_the_adapters_chat_stream_is_wrapped_once_through_the_routers_wrapper() -> None:
    adapter = SimpleNamespace(completion_stream=[chunk(call("A", "{}"), call("B", "{}"))])
    router_stream = SimpleNamespace(_source_iterator=SimpleNamespace(_anthropic_wrapper=adapter))
    assert vibe.split_calls(router_stream)
    wrapped = adapter.completion_stream
    assert vibe.split_calls(router_stream) and adapter.completion_stream is wrapped
    assert [c.choices[0].delta.tool_calls[0].function.name for c in wrapped] == ["A", "B"]
    assert not vibe.split_calls(SimpleNamespace())


def test_the_split_stream_reads_asynchronously_too() -> None:
    async def source() -> Any:
        yield chunk(call("A", "{}"), call("B", "{}"))
        yield chunk(content="after")

    async def read() -> list[Any]:
        return [c async for c in vibe.OneCallPerChunk(source())]

    got = asyncio.run(read())
    assert len(got) == 3 and got[2].choices[0].delta.content == "after"
