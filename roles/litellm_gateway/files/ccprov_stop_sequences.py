"""Anthropic `stop_sequences`, applied by the proxy on routes where LiteLLM translates
/v1/messages into chat completions (issue #30): the gateway's chat_completions route and the
workstation's vibe proxy (roles/workstation installs this file next to ccprov_vibe.py).

LiteLLM 1.106.2's Anthropic adapter sends the sequences on as the chat `stop`, and maps every
chat finish_reason `stop` to `end_turn` with `stop_sequence: null`
(llms/anthropic/pass_through/adapters/transformation.py:1433-1443 streamed, :1610 not): the
client cannot tell a stop sequence from the end of the answer. vLLM names the sequence
(vllm entrypoints/openai/chat_completion/protocol.py:125, :177, choices[].stop_reason) and
the Mistral API does not; neither reaches the adapter's reply.
So the hook takes the sequences off the request before LiteLLM translates it, and applies
them to the Anthropic reply itself, as Anthropic's API does:

- streamed (async_post_call_streaming_iterator_hook, over the adapter's SSE events): text
  goes on as it comes except a tail that could begin a sequence; at the first match the text
  before it goes on, then content_block_stop, message_delta with `stop_reason:
  "stop_sequence"` and the sequence, message_stop, and the upstream stream is closed as on a
  client disconnect (common_request_processing.py close_guarded_stream), so the backend stops.
  The usage it reports is the text deltas seen (near the tokens), and LiteLLM, which logs a
  stream at its end, logs no success for it: the gateway's usage log has no line for such
  a reply.
- not streamed (async_post_call_success_hook, the reply as a dict): the text is cut at the
  first match, later blocks dropped, stop_reason and stop_sequence set. The backend writes on
  to its own end here: the tokens after the sequence are spent, as on a route without this.

The sequences travel in the request's litellm_metadata (the proxy's own, never sent
upstream). A request without them passes unchanged, and so does its reply.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # the unit tests, which run without LiteLLM
    _Base = object

KEY = "ccprov_stop_sequences"
# Events after which no more of the open text block comes: held text goes out before them.
ENDS = {"content_block_stop", "content_block_start", "message_delta", "message_stop"}


def take_sequences(data: dict[str, Any]) -> list[str]:
    """DATA's stop_sequences, taken off it and kept in its litellm_metadata (non-empty
    strings only); [] when it has none."""
    raw = data.pop("stop_sequences", None)
    stops = [s for s in (raw if isinstance(raw, list) else [raw]) if isinstance(s, str) and s]
    if stops:
        meta = data.get("litellm_metadata")
        if not isinstance(meta, dict):
            meta = data["litellm_metadata"] = {}
        meta[KEY] = stops
    return stops


def sequences_of(data: Any) -> list[str]:
    meta = data.get("litellm_metadata") if isinstance(data, dict) else None
    stops = meta.get(KEY) if isinstance(meta, dict) else None
    return list(stops) if isinstance(stops, list) else []


def first_match(text: str, stops: list[str]) -> tuple[int, str] | None:
    """Where the earliest sequence starts in TEXT and which one (the first listed on a tie)."""
    found = [(text.find(s), s) for s in stops if s in text]
    return min(found, key=lambda hit: hit[0]) if found else None


def held_back(text: str, stops: list[str]) -> int:
    """How many characters at TEXT's end could begin a sequence (kept until more arrives)."""
    return max(
        (k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])),
        default=0,
    )


def cut_message(message: Any, stops: list[str]) -> Any:
    """A non-streamed Anthropic MESSAGE cut at the first sequence in its text; as is without."""
    if not stops or not isinstance(message, dict) or message.get("type") != "message":
        return message
    content = message.get("content")
    content = content if isinstance(content, list) else []
    for position, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") != "text":
            continue
        hit = first_match(str(block.get("text", "")), stops)
        if hit:
            kept = [*content[:position], {**block, "text": block["text"][: hit[0]]}]
            return {
                **message,
                "content": kept,
                "stop_reason": "stop_sequence",
                "stop_sequence": hit[1],
            }
    return message


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def parse_event(frame: bytes) -> dict[str, Any] | None:
    """The JSON object of one SSE frame's data line(s); None if it has none."""
    data = b"".join(line[5:].strip() for line in frame.splitlines() if line.startswith(b"data:"))
    try:
        event = json.loads(data) if data else None
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


class StreamCutter:
    """The state of one streamed reply: takes SSE frames, gives the frames to send."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.held = ""  # text not sent yet: it may begin a sequence
        self.index: Any = None  # the open text block's index
        self.deltas = 0  # content deltas seen: the output tokens, near enough
        self.input_tokens = 0
        self.done = False

    def _text(self, text: str) -> bytes:
        delta = {"type": "text_delta", "text": text}
        return sse({"type": "content_block_delta", "index": self.index, "delta": delta})

    def feed(self, frame: bytes, event: dict[str, Any] | None) -> list[bytes]:
        if self.done:
            return []
        kind = event.get("type") if event else None
        if kind == "message_start":
            usage = (event.get("message") or {}).get("usage") or {}  # type: ignore[union-attr]
            self.input_tokens = int(usage.get("input_tokens") or 0)
        if kind == "content_block_delta":
            self.deltas += 1
        delta = (event or {}).get("delta") or {}
        if kind == "content_block_delta" and delta.get("type") == "text_delta":
            self.index = event["index"]  # type: ignore[index]
            self.held += str(delta.get("text") or "")
            hit = first_match(self.held, self.stops)
            if hit:
                return self._stop(*hit)
            keep = held_back(self.held, self.stops)
            cut = len(self.held) - keep
            ready, self.held = self.held[:cut], self.held[cut:]
            return [self._text(ready)] if ready else []
        if not self.held or kind not in ENDS:
            return [frame]
        out, self.held = self._text(self.held), ""
        return [out, frame]

    def _stop(self, position: int, sequence: str) -> list[bytes]:
        self.done = True
        before = self.held[:position]
        usage = {"output_tokens": self.deltas}
        if self.input_tokens:  # LiteLLM's message_start has 0 until the backend's last chunk
            usage = {"input_tokens": self.input_tokens, **usage}
        return [
            *([self._text(before)] if before else []),
            sse({"type": "content_block_stop", "index": self.index}),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "stop_sequence", "stop_sequence": sequence},
                    "usage": usage,
                }
            ),
            sse({"type": "message_stop"}),
        ]


async def cut_stream(response: Any, stops: list[str]) -> AsyncIterator[Any]:
    """RESPONSE's SSE bytes with STOPS applied; the upstream closed at a match."""
    cutter, buffer = StreamCutter(stops), b""
    async for chunk in response:
        if not isinstance(chunk, (bytes, str)):
            yield chunk
            continue
        buffer += chunk.encode() if isinstance(chunk, str) else chunk
        while b"\n\n" in buffer and not cutter.done:
            frame, buffer = buffer.split(b"\n\n", 1)
            for out in cutter.feed(frame + b"\n\n", parse_event(frame)):
                yield out
        if cutter.done:
            close = getattr(response, "aclose", None)
            if close is not None:
                await close()
            return
    if buffer:
        yield buffer


class StopSequences(_Base):  # type: ignore[misc]  # LiteLLM's CustomLogger (untyped here)
    """See the module's docstring."""

    def __init__(self) -> None:
        if _Base is not object:
            super().__init__()

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        if str(getattr(call_type, "value", call_type)).endswith("anthropic_messages"):
            take_sequences(data)
        return data

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any
    ) -> Any:
        return cut_message(response, sequences_of(data))

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncIterator[Any]:
        stops = sequences_of(request_data)
        source = cut_stream(response, stops) if stops else response
        async for chunk in source:
            yield chunk


stop_sequences = StopSequences()
"""The instance litellm_settings.callbacks names (ccprov_stop_sequences.stop_sequences)."""
