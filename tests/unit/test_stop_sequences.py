"""stop_sequences applied by the proxy (roles/litellm_gateway/files/ccprov_stop_sequences.py,
issue #30) on its own; through the real LiteLLM in the conformance check stop-sequences, on
the gateway's chat_completions route (tests/conformance) and the vibe route
(tests/e2e/test_vibe_conformance.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conftest import REPO, load_file

stops = load_file(
    "ccprov_stop_sequences", REPO / "roles/litellm_gateway/files/ccprov_stop_sequences.py"
)


def pre(body: dict[str, Any], call_type: str = "anthropic_messages") -> dict[str, Any]:
    hook = stops.stop_sequences.async_pre_call_hook
    return asyncio.run(hook(None, None, body, call_type))


def test_the_sequences_leave_the_request_for_the_proxys_own_metadata() -> None:
    data = pre({"model": "m", "stop_sequences": ["END", "", 3], "litellm_metadata": {"k": 1}})
    assert "stop_sequences" not in data
    assert data["litellm_metadata"] == {"k": 1, stops.KEY: ["END"]}
    assert stops.sequences_of(data) == ["END"]
    # Chat requests keep their `stop`; a body without sequences is as sent.
    assert pre({"stop_sequences": ["X"]}, "acompletion") == {"stop_sequences": ["X"]}
    assert pre({"model": "m"}) == {"model": "m"}


def message(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "content": list(blocks),
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }


def test_a_reply_is_cut_at_the_first_sequence_and_says_which() -> None:
    text = {"type": "text", "text": "ALPHA_STOP_BETA END"}
    tool = {"type": "tool_use", "id": "t", "name": "Read", "input": {}}
    out = stops.cut_message(message(text, tool), ["END", "_STOP"])
    assert out["content"] == [{"type": "text", "text": "ALPHA"}]
    assert (out["stop_reason"], out["stop_sequence"]) == ("stop_sequence", "_STOP")
    same = message({"type": "text", "text": "no match"})
    assert stops.cut_message(same, ["END"]) is same
    assert stops.cut_message(same, []) is same


def frames(*events: dict[str, Any]) -> list[bytes]:
    return [stops.sse(e) for e in events]


def text_delta(text: str) -> dict[str, Any]:
    delta = {"type": "text_delta", "text": text}
    return {"type": "content_block_delta", "index": 0, "delta": delta}


START = {"type": "message_start", "message": {"usage": {"input_tokens": 7}}}
BLOCK = {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
END = [
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
    {"type": "message_stop"},
]


class Upstream:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks, self.closed = chunks, False

    def __aiter__(self) -> Any:
        return self._gen()

    async def _gen(self) -> Any:
        for c in self.chunks:
            if self.closed:
                return
            yield c

    async def aclose(self) -> None:
        self.closed = True


def run(chunks: list[bytes], sequences: list[str]) -> tuple[list[dict[str, Any]], Upstream]:
    upstream = Upstream(chunks)
    data = {"litellm_metadata": {stops.KEY: sequences}} if sequences else {}

    async def read() -> list[Any]:
        hook = stops.stop_sequences.async_post_call_streaming_iterator_hook(None, upstream, data)
        return [c async for c in hook]

    out = asyncio.run(read())
    events = [stops.parse_event(c) for c in b"".join(out).split(b"\n\n") if c.strip()]
    return [e for e in events if e], upstream


def test_a_stream_stops_at_a_sequence_split_across_deltas() -> None:
    """`_ST` could begin `_STOP`: it waits for the next delta, which completes the match."""
    chunks = frames(START, BLOCK, text_delta("ALPHA_ST"), text_delta("OP_BETA"), *END)
    events, upstream = run(chunks, ["_STOP"])
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(texts) == "ALPHA"
    assert [e["type"] for e in events][-3:] == [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    final = events[-2]
    assert final["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "_STOP"}
    assert final["usage"]["input_tokens"] == 7
    assert upstream.closed  # the backend stops writing


def test_a_held_tail_that_does_not_match_goes_out_before_the_block_ends() -> None:
    chunks = frames(START, BLOCK, text_delta("ALPHA_S"), *END)
    events, upstream = run(chunks, ["_STOP"])
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert texts == ["ALPHA", "_S"]
    assert events[-2]["delta"]["stop_reason"] == "end_turn" and not upstream.closed


def test_without_sequences_the_stream_is_the_same_bytes() -> None:
    chunks = frames(START, BLOCK, text_delta("ALPHA_STOP"), *END)
    upstream = Upstream(chunks)

    async def read() -> list[Any]:
        hook = stops.stop_sequences.async_post_call_streaming_iterator_hook(None, upstream, {})
        return [c async for c in hook]

    assert asyncio.run(read()) == chunks
    assert json.loads(chunks[2].split(b"data: ")[1])["delta"]["text"] == "ALPHA_STOP"
