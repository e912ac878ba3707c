"""vLLM 0.33's Anthropic Messages layer, copied from vllm/entrypoints/anthropic/
(serving.py, protocol.py).

`validate_*` stand in for the pydantic models of protocol.py (AnthropicMessagesRequest,
AnthropicCountTokensRequest): what they refuse is a request-validation error (a 400 with
vLLM's global, OpenAI-shaped body). `to_chat_completion_request` is
AnthropicServingMessages.to_chat_completion_request; `stream_converter` is
message_stream_converter; `full_converter` is messages_full_converter.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from vllm.errors import ApiError, ValidationFailed

BLOCK_TYPES = (
    "text",
    "image",
    "tool_use",
    "tool_result",
    "tool_reference",
    "thinking",
    "redacted_thinking",
    "tool_addition",
    "tool_removal",
)
EFFORTS = ("low", "medium", "high", "xhigh", "max")  # protocol.AnthropicEffort
BILLING = "x-anthropic-billing-header"


# --- protocol.py: request validation ----------------------------------------------------
def _blocks(where: tuple[Any, ...], content: Any, v: ValidationFailed) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        v.add("union_type", where, "Input should be a valid string or list", content)
        return
    for i, block in enumerate(content):
        if not isinstance(block, dict):
            v.add("model_type", (*where, i), "Input should be a valid dictionary", block)
        elif block.get("type") not in BLOCK_TYPES:
            allowed = ", ".join(f"'{t}'" for t in BLOCK_TYPES)
            v.add(
                "literal_error",
                (*where, i, "type"),
                f"Input should be {allowed}",
                block.get("type"),
            )


def _common(body: dict[str, Any], v: ValidationFailed) -> None:
    if not isinstance(body.get("model"), str):
        v.add("missing", ("body", "model"), "Field required", body)
    elif not body["model"]:
        v.add("value_error", ("body", "model"), "Value error, Model is required", "")
    messages = body.get("messages")
    if not isinstance(messages, list):
        v.add("missing", ("body", "messages"), "Field required", body)
        messages = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            v.add(
                "model_type", ("body", "messages", i), "Input should be a valid dictionary", message
            )
            continue
        if message.get("role") not in ("user", "assistant", "system"):
            v.add(
                "literal_error",
                ("body", "messages", i, "role"),
                "Input should be 'user', 'assistant' or 'system'",
                message.get("role"),
            )
        if "content" not in message:
            v.add("missing", ("body", "messages", i, "content"), "Field required", message)
        else:
            _blocks(("body", "messages", i, "content"), message["content"], v)
    system = body.get("system")
    if system is not None:
        _blocks(("body", "system"), system, v)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            v.add("list_type", ("body", "tools"), "Input should be a valid list", tools)
            tools = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                v.add(
                    "model_type", ("body", "tools", i), "Input should be a valid dictionary", tool
                )
                continue
            if not isinstance(tool.get("name"), str):
                v.add("missing", ("body", "tools", i, "name"), "Field required", tool)
            if "input_schema" not in tool:
                v.add("missing", ("body", "tools", i, "input_schema"), "Field required", tool)
            elif not isinstance(tool["input_schema"], dict):
                v.add(
                    "dict_type",
                    ("body", "tools", i, "input_schema"),
                    "Input should be a valid dictionary",
                    tool["input_schema"],
                )
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            v.add(
                "literal_error",
                ("body", "tool_choice", "type"),
                "Input should be 'auto', 'any', 'tool' or 'none'",
                choice,
            )
        elif choice["type"] == "tool" and not choice.get("name"):
            v.add(
                "value_error",
                ("body", "tool_choice"),
                "Value error, tool_choice.name is required when type is 'tool'",
                choice,
            )
    thinking = body.get("thinking")
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind not in ("enabled", "disabled", "adaptive"):
            v.add(
                "union_tag_invalid",
                ("body", "thinking"),
                "Input tag does not match any of the expected tags: 'enabled', 'disabled', "
                "'adaptive'",
                kind,
            )
        elif kind == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int):
                v.add(
                    "missing",
                    ("body", "thinking", "enabled", "budget_tokens"),
                    "Field required",
                    thinking,
                )
            elif budget < 1024:
                v.add(
                    "greater_than_equal",
                    ("body", "thinking", "enabled", "budget_tokens"),
                    "Input should be greater than or equal to 1024",
                    budget,
                )
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    if effort is not None and effort not in EFFORTS:
        v.add(
            "literal_error",
            ("body", "output_config", "effort"),
            "Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
            effort,
        )


def validate_messages_request(body: dict[str, Any]) -> None:
    v = ValidationFailed()
    _common(body, v)
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        v.add("missing", ("body", "max_tokens"), "Field required", body)
    elif max_tokens <= 0:
        v.add(
            "value_error",
            ("body", "max_tokens"),
            "Value error, max_tokens must be positive",
            max_tokens,
        )
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        v.add("list_type", ("body", "stop_sequences"), "Input should be a valid list", stops)
    v.raise_if_any()
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled" and thinking["budget_tokens"] >= max_tokens:
        v.add(
            "value_error",
            ("body",),
            "Value error, thinking.budget_tokens must be less than max_tokens",
            body,
        )
    v.raise_if_any()


def validate_count_tokens_request(body: dict[str, Any]) -> None:
    v = ValidationFailed()
    _common(body, v)
    v.raise_if_any()


# --- serving.py: AnthropicServingMessages.to_chat_completion_request ----------------------
def _system_text(content: Any) -> str | None:
    """_extract_system_text: billing headers stripped."""
    if isinstance(content, str):
        return None if content.startswith(BILLING) else content
    parts = [
        b["text"]
        for b in content
        if b.get("type") == "text" and b.get("text") and not b["text"].startswith(BILLING)
    ]
    return "".join(parts) if parts else None


def _image_url(source: dict[str, Any]) -> str:
    if source.get("type") == "url":
        return str(source.get("url", ""))
    return f"data:{source.get('media_type', 'image/jpeg')};base64,{source.get('data', '')}"


def _convert_messages(
    messages: list[dict[str, Any]], out: list[dict[str, Any]], merge: bool
) -> None:
    for msg in messages:
        if msg["role"] == "system":
            if merge:
                continue
            text = _system_text(msg["content"])
            if text:
                out.append({"role": "system", "content": text})
            continue
        openai_msg: dict[str, Any] = {"role": msg["role"]}
        if isinstance(msg["content"], str):
            openai_msg["content"] = msg["content"]
        else:
            parts: list[dict[str, Any]] = []
            tool_calls: list[dict[str, Any]] = []
            reasoning: list[str] = []
            for block in msg["content"]:
                kind = block.get("type")
                if kind == "text" and block.get("text"):
                    parts.append({"type": "text", "text": block["text"]})
                elif kind == "image" and block.get("source"):
                    parts.append(
                        {"type": "image_url", "image_url": {"url": _image_url(block["source"])}}
                    )
                elif kind == "thinking" and block.get("thinking") is not None:
                    reasoning.append(block["thinking"])
                elif kind == "tool_use":
                    tool_calls.append(
                        {
                            "id": block.get("id") or f"call_{int(time.time())}",
                            "type": "function",
                            "function": {
                                "name": block.get("name") or "",
                                "arguments": json.dumps(block.get("input") or {}),
                            },
                        }
                    )
                elif kind == "tool_result":
                    if msg["role"] == "user":
                        _user_tool_result(block, out)
                    else:
                        text = str(block.get("content")) if block.get("content") else ""
                        parts.append({"type": "text", "text": f"Tool result: {text}"})
            if reasoning:
                openai_msg["reasoning"] = "".join(reasoning)
            if tool_calls:
                openai_msg["tool_calls"] = tool_calls
            if parts:
                if len(parts) == 1 and parts[0]["type"] == "text":
                    openai_msg["content"] = parts[0]["text"]
                else:
                    openai_msg["content"] = parts
        if not (msg["role"] == "user" and "content" not in openai_msg):
            out.append(openai_msg)


def _user_tool_result(block: dict[str, Any], out: list[dict[str, Any]]) -> None:
    """_convert_user_tool_result: a tool message with the text; images as a user message
    after it (the renderer then refuses them: not a multimodal model); `tool_reference`
    items as a second tool message whose content is those references, which mistral-common
    refuses ("'tool_reference' is not a valid ChunkTypes")."""
    content = block.get("content")
    text = ""
    images: list[str] = []
    references: list[dict[str, Any]] = []
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for item in content:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "text":
                texts.append(item.get("text", ""))
            elif item.get("type") == "image":
                url = _image_url(item.get("source", {}))
                if url:
                    images.append(url)
            elif item.get("type") == "tool_reference":
                name = item.get("tool_name") or item.get("name")
                if name:
                    references.append({"type": "tool_reference", "name": name})
        text = "\n".join(texts)
    out.append(
        {"role": "tool", "tool_call_id": block.get("tool_use_id") or "", "content": text or ""}
    )
    if images:
        out.append(
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": u}} for u in images],
            }
        )
    if references:
        out.append(
            {"role": "tool", "tool_call_id": block.get("tool_use_id") or "", "content": references}
        )


def to_chat_completion_request(
    body: dict[str, Any], *, count_tokens: bool = False
) -> dict[str, Any]:
    """The chat request vLLM builds from an Anthropic one. `merge_inline_system` is True:
    with the Mistral tokenizer the renderer is not an HfRenderer and no --chat-template
    is set, so `_detect_merge_inline_system(None)` is True. `cache_control`, `metadata`,
    `context_management` and unknown fields are ignored (pydantic drops extras)."""
    messages: list[dict[str, Any]] = []
    system_parts: list[str] = []
    system = body.get("system")
    if system:
        if isinstance(system, str):
            system_parts.append(system)
        else:
            for block in system:
                if block.get("type") == "text" and block.get("text"):
                    if block["text"].startswith(BILLING):
                        continue
                    system_parts.append(block["text"])
    for msg in body["messages"]:
        if msg["role"] == "system":
            text = _system_text(msg["content"])
            if text:
                system_parts.append(text)
    if system_parts:
        messages.append({"role": "system", "content": "".join(system_parts)})
    _convert_messages(body["messages"], messages, merge=True)
    req: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("chat_template_kwargs") is not None:
        req["chat_template_kwargs"] = body["chat_template_kwargs"]
    if not count_tokens:
        req["max_tokens"] = req["max_completion_tokens"] = body["max_tokens"]
        if body.get("stop_sequences") is not None:
            req["stop"] = body["stop_sequences"]
        if body.get("stream"):
            req["stream"] = True
            req["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None:
        req["reasoning_effort"] = effort
    thinking = body.get("thinking")
    if thinking:
        if thinking["type"] == "disabled":
            # DisabledThinkingEffortResolver: the Mistral renderer drops reasoning_effort
            # below tokenizer v15, so "none" renders like every effort -> "low".
            req["reasoning_effort"] = "low"
        elif thinking["type"] == "enabled":
            req["thinking_token_budget"] = thinking["budget_tokens"]
        # "adaptive" pins nothing.
    choice = body.get("tool_choice")
    if choice is not None:
        req["parallel_tool_calls"] = not choice.get("disable_parallel_tool_use")
        req["tool_choice"] = {
            "auto": "auto",
            "any": "required",
            "none": "none",
            "tool": {"type": "function", "function": {"name": choice.get("name")}},
        }[choice["type"]]
    tools = body.get("tools")
    if tools is not None:
        req["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t.get("description"),
                    "parameters": {"type": "object", **t["input_schema"]}
                    if "type" not in t["input_schema"]
                    else t["input_schema"],
                },
            }
            for t in tools
        ]
        req.setdefault("tool_choice", "auto")
        if req["tool_choice"] is None:
            req["tool_choice"] = "auto"
    return req


# --- serving.py: stop reasons and converters ---------------------------------------------
def to_anthropic_stop_reason(
    finish_reason: str | None, stop_reason: Any, tool_used: bool, tool_complete: bool
) -> tuple[str | None, str | None]:
    """_to_anthropic_stop_reason."""
    if finish_reason == "length":
        return "max_tokens", None
    if finish_reason not in ("stop", "tool_calls"):
        return None, None
    if tool_complete:
        return "tool_use", None
    if isinstance(stop_reason, str):
        return "stop_sequence", stop_reason
    if finish_reason == "tool_calls" or tool_used:
        return "tool_use", None
    return "end_turn", None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _usage(usage: dict[str, Any] | None) -> dict[str, int]:
    """_build_anthropic_usage (vLLM 0.33.0 entrypoints/anthropic/serving.py:75-107): cache
    fields only from prompt_tokens_details (--enable-prompt-tokens-details), else unset;
    input_tokens = prompt_tokens - cache_read - cache_creation. In a stream only the final
    usage chunk carries them, so message_start never has them and message_delta does."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    out = {"input_tokens": 0, "output_tokens": usage.get("completion_tokens") or 0}
    input_tokens = usage["prompt_tokens"]
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict):
        # AnthropicUsage (protocol.py:57-63) field order: creation before read.
        if details.get("created_cache_tokens") is not None:
            input_tokens -= details["created_cache_tokens"]
            out["cache_creation_input_tokens"] = details["created_cache_tokens"]
        if details.get("cached_tokens") is not None:
            input_tokens -= details["cached_tokens"]
            out["cache_read_input_tokens"] = details["cached_tokens"]
    out["input_tokens"] = max(0, input_tokens)
    return out


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def full_converter(response: dict[str, Any]) -> dict[str, Any]:
    """messages_full_converter, serialized with exclude_none like the router does."""
    choice = response["choices"][0]
    message = choice["message"]
    stop_reason, stop_sequence = to_anthropic_stop_reason(
        choice["finish_reason"],
        choice.get("stop_reason"),
        tool_used=bool(message.get("tool_calls")),
        tool_complete=bool(message.get("tool_calls")),
    )
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        content.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": call["function"]["name"],
                "input": json.loads(call["function"]["arguments"]),  # may raise: a 400 then
            }
        )
    if not content:
        content.append({"type": "text", "text": ""})
    result: dict[str, Any] = {
        "id": response["id"],
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": response["model"],
        "stop_reason": stop_reason,
        "usage": _usage(response.get("usage")),
    }
    if stop_sequence is not None:
        result["stop_sequence"] = stop_sequence
    return result


def stream_converter(chunks: Iterable[dict[str, Any] | ApiError]) -> Iterator[str]:
    """message_stream_converter: lazily opened blocks, text that arrives while a tool_use
    block is open is buffered and emitted as its own text block after it, no pings."""
    state: dict[str, Any] = {"index": 0, "type": None, "tool_id": None, "pending": []}
    first = True
    finish_reason: str | None = None
    stop_sequence: Any = None
    tool_used = False
    last_tool_args: list[str] = []
    tool_index_to_id: dict[int, str] = {}

    def stop_active() -> list[str]:
        if state["type"] is None:
            return []
        events = [
            _event("content_block_stop", {"type": "content_block_stop", "index": state["index"]})
        ]
        state.update(type=None, tool_id=None, pending=[])
        state["index"] += 1
        return events

    def start(block: dict[str, Any]) -> str:
        state["type"] = block["type"]
        state["tool_id"] = block.get("id") if block["type"] == "tool_use" else None
        return _event(
            "content_block_start",
            {"type": "content_block_start", "content_block": block, "index": state["index"]},
        )

    def delta(body: dict[str, Any]) -> str:
        return _event(
            "content_block_delta",
            {"type": "content_block_delta", "delta": body, "index": state["index"]},
        )

    def stop_and_flush() -> list[str]:
        buffered = list(state["pending"])
        events = stop_active()
        if buffered:
            events.append(start({"type": "text", "text": ""}))
            events.append(delta({"type": "text_delta", "text": "".join(buffered)}))
            events += stop_active()
        return events

    try:
        for chunk in chunks:
            if isinstance(chunk, ApiError):
                raise chunk
            if first:
                first = False
                message = {
                    "id": chunk["id"],
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": chunk["model"],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": _usage(chunk.get("usage")),
                }
                yield _event("message_start", {"type": "message_start", "message": message})
                continue
            if not chunk["choices"]:
                yield from stop_and_flush()
                reason, sequence = to_anthropic_stop_reason(
                    finish_reason or "stop",
                    stop_sequence,
                    tool_used=tool_used,
                    tool_complete=tool_used and _is_json("".join(last_tool_args)),
                )
                yield _event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": reason, "stop_sequence": sequence},
                        "usage": _usage(chunk.get("usage")),
                    },
                )
                continue
            choice = chunk["choices"][0]
            if choice.get("finish_reason") is not None:
                finish_reason = choice["finish_reason"]
                stop_sequence = choice.get("stop_reason")
            content = choice["delta"].get("content")
            if content:
                if state["type"] == "tool_use":
                    state["pending"].append(content)
                else:
                    if state["type"] != "text":
                        yield from stop_and_flush()
                        yield start({"type": "text", "text": ""})
                    yield delta({"type": "text_delta", "text": content})
            for call in choice["delta"].get("tool_calls") or []:
                function = call.get("function") or {}
                if call.get("id") is not None:
                    tool_index_to_id[call["index"]] = call["id"]
                    if state["tool_id"] != call["id"] and function.get("name") is not None:
                        yield from stop_and_flush()
                        tool_used = True
                        last_tool_args = []
                        yield start(
                            {
                                "type": "tool_use",
                                "id": call["id"],
                                "name": function["name"],
                                "input": {},
                            }
                        )
                    if function.get("arguments") and state["tool_id"] == call["id"]:
                        last_tool_args.append(function["arguments"])
                        yield delta(
                            {"type": "input_json_delta", "partial_json": function["arguments"]}
                        )
                else:
                    tool_id = tool_index_to_id.get(call["index"])
                    if (
                        tool_id is not None
                        and function.get("arguments")
                        and state["tool_id"] == tool_id
                    ):
                        last_tool_args.append(function["arguments"])
                        yield delta(
                            {"type": "input_json_delta", "partial_json": function["arguments"]}
                        )
        yield from stop_and_flush()
        yield _event("message_stop", {"type": "message_stop"})
    except ApiError as exc:
        yield from stop_active()
        yield _event(
            "error",
            {"type": "error", "error": {"type": exc.anthropic_type(), "message": exc.message}},
        )


def new_message_id() -> str:
    """The chat request's id (chatcmpl- and vllm/utils random_uuid's 16 hex digits)."""
    return f"chatcmpl-{uuid.uuid4().int & (2**64 - 1):016x}"
