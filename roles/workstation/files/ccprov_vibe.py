"""The vibe proxy's two LiteLLM hooks (loaded from its config directory, next to config.yaml).

`mistral_shapes` (litellm_settings.callbacks) makes Claude Code's conversations ones the
Mistral API takes. LiteLLM 1.106.2's `mistral/` provider (llms/mistral/chat/transformation.py)
already drops `name` outside tool messages, output-only fields and empty assistant turns,
but not these two, which the API refuses and Claude Code sends:

- Tool-call ids that are not 9 alphanumerics (`toolu_01...` from a session begun on
  Anthropic's cloud or another backend): 400 `Tool call id was ... but must be a-z, A-Z,
  0-9, with a length of 9.` (mistral_common protocol/instruct/validator.py; langchain-ai/
  langchain#24668). Each such id becomes 9 alphanumerics derived from it (SHA-256), the
  same for a tool_use and its tool_result and on every later turn, so nothing pairs wrong
  and the prompt's prefix stays the same.
- An assistant turn with text and tool calls (a sentence before the call, which Devstral
  writes): 422 `Assistant message must have either content or tool_calls, but not both.`
  (github/copilot-cli#4884). It becomes two assistant turns, the text and then the calls:
  the API takes an assistant turn after an assistant turn (mistral_common's
  _validate_message_order), so nothing of the conversation is lost.

- `tool_choice.disable_parallel_tool_use`, which LiteLLM's Anthropic-to-chat translation loses
  (llms/anthropic/pass_through/adapters/transformation.py:764-780): the flag becomes
  `parallel_tool_calls: false`, which LiteLLM copies into the chat request and the API takes
  (mistralai 3.7.0 models/chatcompletionrequest.py), as the gateway's
  ccprov_anthropic_fields.py does.

- Parallel tool calls in a streamed turn: the Mistral API streams a turn's calls in one
  delta, and LiteLLM 1.106.2's Anthropic stream adapter opens a tool_use block for
  `delta.tool_calls[0]` only and joins every call's arguments into it
  (llms/anthropic/pass_through/adapters/transformation.py:1633-1639, :1700-1704): every call
  after the first was lost. async_post_call_streaming_iterator_hook splits such a delta into
  one chunk per call before the adapter reads it, so each call gets its own tool_use block.
  It reaches the adapter's chat stream through the stream the proxy hands the hook
  (proxy/utils.py _UpstreamStreamBoundary.__getattr__ -> router.py
  FallbackAwareAnthropicMessagesStream._source_iterator -> streaming_iterator.py
  AnthropicSSEStream._anthropic_wrapper.completion_stream), so this callback is listed
  first. A retry that opens a new stream before the first byte is not split.
  Where that reach fails (another LiteLLM: SPLITS, probed at import), a streamed turn with
  tools asks for one call at a time (`parallel_tool_calls: false`) instead, losing nothing.

The request rewrites run in async_pre_call_hook (LiteLLM proxy/utils.py,
ProxyLogging.pre_call_hook): on /v1/messages with call_type `anthropic_messages` and the
Anthropic-shaped body, before LiteLLM translates it; on /v1/chat/completions with
`acompletion`, OpenAI-shaped. Requests without such ids or turns pass unchanged (the same
objects).

`user_api_key_auth` (general_settings.custom_auth): the proxy has one key, its master key
(LITELLM_MASTER_KEY). LiteLLM without a database answers any other key with 400 `No
connected db.`; here it is a 401 that says the key is wrong, as from the gateway.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # the unit tests, which run without LiteLLM
    _Base = object

ID = re.compile(r"[A-Za-z0-9]{9}")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def mistral_id(ident: Any) -> Any:
    """IDENT if the API takes it, else 9 alphanumerics from its SHA-256 (not a string: as is)."""
    if not isinstance(ident, str) or ID.fullmatch(ident):
        return ident
    number = int.from_bytes(hashlib.sha256(ident.encode()).digest()[:12], "big")
    out = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHABET))
        out.append(_ALPHABET[digit])
    return "".join(out)


def _has_text(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content)
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "text" and b.get("text") for b in content
    )


def _anthropic_message(message: Any) -> list[Any]:
    """One Anthropic message as the Mistral API takes it: one message or two."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return [message]
    blocks, changed = [], False
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            new = mistral_id(block.get("id"))
            if new != block.get("id"):
                block, changed = {**block, "id": new}, True
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            new = mistral_id(block.get("tool_use_id"))
            if new != block.get("tool_use_id"):
                block, changed = {**block, "tool_use_id": new}, True
        blocks.append(block)
    calls = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
    if message.get("role") == "assistant" and calls and _has_text(blocks):
        rest = [b for b in blocks if not (isinstance(b, dict) and b.get("type") == "tool_use")]
        return [{**message, "content": rest}, {**message, "content": calls}]
    return [{**message, "content": blocks}] if changed else [message]


def _openai_message(message: Any) -> list[Any]:
    """One OpenAI chat message as the Mistral API takes it: one message or two."""
    if not isinstance(message, dict):
        return [message]
    if message.get("role") == "tool":
        new = mistral_id(message.get("tool_call_id"))
        return (
            [message] if new == message.get("tool_call_id") else [{**message, "tool_call_id": new}]
        )
    calls = message.get("tool_calls")
    if message.get("role") != "assistant" or not isinstance(calls, list) or not calls:
        return [message]
    fixed = [{**c, "id": mistral_id(c.get("id"))} if isinstance(c, dict) else c for c in calls]
    changed = fixed != calls
    if _has_text(message.get("content")):
        text = {k: v for k, v in message.items() if k != "tool_calls"}
        return [text, {**message, "content": None, "tool_calls": fixed}]
    return [{**message, "tool_calls": fixed}] if changed else [message]


def rewrite(messages: Any, anthropic: bool) -> tuple[Any, int]:
    """MESSAGES as the Mistral API takes them, and how many messages changed. Unchanged
    messages are the same objects; with nothing to change, the same list. Idempotent."""
    if not isinstance(messages, list):
        return messages, 0
    out, changed = [], 0
    for message in messages:
        new = _anthropic_message(message) if anthropic else _openai_message(message)
        changed += len(new) != 1 or new[0] is not message
        out += new
    return (out if changed else messages), changed


class MistralShapes(_Base):  # type: ignore[misc]  # LiteLLM's CustomLogger (untyped here)
    """Rewrites data["messages"] before LiteLLM translates them; see the module's docstring."""

    def __init__(self) -> None:
        if _Base is not object:
            super().__init__()

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        kind = str(getattr(call_type, "value", call_type))
        if "messages" in data and kind in ("anthropic_messages", "aanthropic_messages"):
            data["messages"], _ = rewrite(data["messages"], anthropic=True)
            choice = data.get("tool_choice")
            if isinstance(choice, dict) and choice.get("disable_parallel_tool_use") is True:
                data.setdefault("parallel_tool_calls", False)
            if data.get("stream") is True and data.get("tools") and not SPLITS:
                data.setdefault("parallel_tool_calls", False)
        elif "messages" in data and kind in ("completion", "acompletion"):
            data["messages"], _ = rewrite(data["messages"], anthropic=False)
        return data

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncIterator[Any]:
        split_calls(response)
        async for chunk in response:
            yield chunk


def one_call_each(chunk: Any) -> list[Any]:
    """CHUNK (a chat stream chunk), or one copy per tool call if its one choice's delta holds
    several whole calls (each named, as the Mistral API streams them)."""
    choices = getattr(chunk, "choices", None)
    if not isinstance(choices, list) or len(choices) != 1:
        return [chunk]
    calls = getattr(getattr(choices[0], "delta", None), "tool_calls", None) or []
    if len(calls) < 2 or not all(
        getattr(getattr(c, "function", None), "name", None) for c in calls
    ):
        return [chunk]
    pieces = []
    for number in range(len(calls)):
        piece = copy.deepcopy(chunk)
        delta = piece.choices[0].delta
        delta.tool_calls = [delta.tool_calls[number]]
        if number:
            delta.content, delta.role = None, None
        pieces.append(piece)
    return pieces


class OneCallPerChunk:
    """A chat stream whose chunks each carry at most one whole tool call (one_call_each);
    anything else it is asked (chunks, messages, aclose) is the wrapped stream's."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.pending: list[Any] = []
        self._async: Any = None
        self._sync: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def __aiter__(self) -> OneCallPerChunk:
        return self

    async def __anext__(self) -> Any:
        if not self.pending:
            if self._async is None:
                self._async = self.stream.__aiter__()
            self.pending = one_call_each(await self._async.__anext__())
        return self.pending.pop(0)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if not self.pending:
            if self._sync is None:
                self._sync = iter(self.stream)
            self.pending = one_call_each(next(self._sync))
        return self.pending.pop(0)


def split_calls(response: Any) -> bool:
    """Wrap the chat stream behind RESPONSE (the proxy's view of the adapter's SSE stream) in
    OneCallPerChunk before it is read; whether it could."""
    adapter: Any = None
    for _ in range(4):  # the router's wrapper, then the adapter's SSE stream
        adapter = getattr(response, "_anthropic_wrapper", None)
        response = getattr(response, "_source_iterator", None)
        if adapter is not None or response is None:
            break
    stream = getattr(adapter, "completion_stream", None)
    if adapter is None or stream is None:
        return False
    if not isinstance(stream, OneCallPerChunk):
        adapter.completion_stream = OneCallPerChunk(stream)
    return True


def _probe() -> bool:
    """Whether this LiteLLM's adapter stream has the shape split_calls reaches into."""
    try:
        from litellm.llms.anthropic.pass_through.adapters.streaming_iterator import (
            AnthropicSSEStream,
            AnthropicStreamWrapper,
        )
        from litellm.router import FallbackAwareAnthropicMessagesStream

        stream = AnthropicSSEStream(AnthropicStreamWrapper(completion_stream=iter(()), model="-"))
        return split_calls(FallbackAwareAnthropicMessagesStream(None, stream))
    except Exception:  # any other shape: ask for one call at a time instead
        return False


SPLITS = _probe()
"""Whether streamed parallel calls are split here (else asked for one at a time)."""

mistral_shapes = MistralShapes()
"""The instance litellm_settings.callbacks names (ccprov_vibe.mistral_shapes)."""


def key_from_headers(headers: Any, api_key: str | None) -> str:
    """The key as sent: Bearer token or x-api-key (LiteLLM's own extraction as a fallback)."""
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return (headers.get("x-api-key") or "").strip() or (api_key or "").strip()


def key_matches(key: str, master: str) -> bool:
    """Whether KEY is the master key (constant time; an empty master key matches nothing)."""
    return bool(master) and hmac.compare_digest(key.encode(), master.encode())


async def user_api_key_auth(request: Any, api_key: str) -> Any:
    """LiteLLM's custom_auth entry point: the master key, else 401."""
    from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth

    key = key_from_headers(request.headers, api_key)
    if not key_matches(key, os.environ.get("LITELLM_MASTER_KEY", "")):
        raise ProxyException(
            message=(
                "Invalid vibe proxy key: use VIBE_TOKEN from ~/.claude-backends.env"
                " (`source claude-switch vibe` sets it)"
                if key
                else "No vibe proxy key: send it as Authorization: Bearer or x-api-key"
            ),
            type="auth_error",
            param="api_key",
            code=401,
        )
    return UserAPIKeyAuth(
        api_key="vibe-master-key", user_id="vibe", user_role=LitellmUserRoles.PROXY_ADMIN
    )
