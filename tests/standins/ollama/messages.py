"""What Ollama's /v1/messages does with a request, for the Ollama stand-in.

Source: github.com/ollama/ollama at fb30760996871fa9460115c753afd2c60d4ab0f7 (2026-08-21),
read with `fetch`. Each function names the lines it follows. Nothing here is a model: the
replies come from the vLLM stand-in's canned model (tests/standins/vllm/src/vllm/model.py),
and tokens are its word-sized pieces (`canned.tokenize`), not a real tokenizer's.
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "vllm" / "src"))
from vllm import model as canned


class BadRequest(Exception):
    """A 400 the middleware sends as Anthropic's invalid_request_error."""


# --- Binding: Go's encoding/json into anthropic.MessagesRequest (anthropic/anthropic.go:67-82)
# Unknown fields are ignored (encoding/json's default; gin's ShouldBindJSON adds nothing),
# so `context_management`, `cache_control`, `betas` ... pass. A field of the wrong JSON type
# is a 400 carrying Go's error text (middleware/anthropic.go:736-739). The wording below
# follows encoding/json's UnmarshalTypeError ("json: cannot unmarshal X into Go struct field
# S.F of type T"); only the status and type are asserted by the tests.
_GO_TYPES: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "model": ("string", str),
    "max_tokens": ("int", int),
    "messages": ("[]anthropic.MessageParam", list),
    "stream": ("bool", bool),
    "temperature": ("float64", (int, float)),
    "top_p": ("float64", (int, float)),
    "top_k": ("int", int),
    "stop_sequences": ("[]string", list),
    "tools": ("[]anthropic.Tool", list),
    "tool_choice": ("anthropic.ToolChoice", dict),
    "thinking": ("anthropic.ThinkingConfig", dict),
    "metadata": ("anthropic.Metadata", dict),
    "output_config": ("anthropic.OutputConfig", dict),
}
# ContentBlock (anthropic.go:116-141): the fields a block's JSON types must match.
_BLOCK_TYPES: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "type": ("string", str),
    "text": ("string", str),
    "id": ("string", str),
    "name": ("string", str),
    "input": ("api.ToolCallFunctionArguments", dict),
    "tool_use_id": ("string", str),
    "is_error": ("bool", bool),
    "thinking": ("string", str),
    "signature": ("string", str),
    "source": ("anthropic.ImageSource", dict),
}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check(value: Any, where: str, go_type: str, py: type | tuple[type, ...]) -> None:
    if value is None:  # null leaves a Go field at its zero value
        return
    ok = isinstance(value, py) and not (py is int and isinstance(value, bool))
    if py is int and isinstance(value, float) and value.is_integer():
        ok = True
    if not ok:
        raise BadRequest(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where}"
            f" of type {go_type}"
        )


def bind(body: Any) -> dict[str, Any]:
    """The request as Go would bind it, or BadRequest with Go's complaint."""
    if not isinstance(body, dict):
        raise BadRequest(
            f"json: cannot unmarshal {_json_kind(body)} into Go value of type"
            " anthropic.MessagesRequest"
        )
    for name, (go_type, py) in _GO_TYPES.items():
        _check(body.get(name), f"MessagesRequest.{name}", go_type, py)
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            raise BadRequest(
                f"json: cannot unmarshal {_json_kind(message)} into Go value of type"
                ' struct { Role string "json:\\"role\\""; Content json.RawMessage'
                ' "json:\\"content\\"" }'
            )
        _check(message.get("role"), "MessageParam.role", "string", str)
        content = message.get("content")
        # MessageParam.UnmarshalJSON (anthropic.go:94-111): a string becomes one text block,
        # anything else must decode as []ContentBlock.
        if isinstance(content, str) or content is None:
            continue
        if not isinstance(content, list):
            raise BadRequest(
                f"json: cannot unmarshal {_json_kind(content)} into Go value of type"
                " []anthropic.ContentBlock"
            )
        for block in content:
            if not isinstance(block, dict):
                raise BadRequest(
                    f"json: cannot unmarshal {_json_kind(block)} into Go value of type"
                    " anthropic.ContentBlock"
                )
            for name, (go_type, py) in _BLOCK_TYPES.items():
                _check(block.get(name), f"ContentBlock.{name}", go_type, py)
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            raise BadRequest(
                f"json: cannot unmarshal {_json_kind(tool)} into Go struct field"
                " MessagesRequest.tools of type anthropic.Tool"
            )
        _check(tool.get("name"), "MessagesRequest.tools.name", "string", str)
    return body


def validate(req: dict[str, Any]) -> None:
    """middleware/anthropic.go:742-755, in that order."""
    if not req.get("model"):
        raise BadRequest("model is required")
    if (req.get("max_tokens") or 0) <= 0:
        raise BadRequest("max_tokens is required and must be positive")
    if not req.get("messages"):
        raise BadRequest("messages is required")


# --- Conversion: anthropic.FromMessagesRequest (anthropic.go:297-414) -----------------------


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return [{"type": "text", "text": content or ""}]
    return list(content)


def _image(source: Any) -> None:
    """resolveImageSource (anthropic.go:997-1008): base64 only."""
    if not isinstance(source, dict):
        raise BadRequest("invalid image source")
    if source.get("type") != "base64":
        raise BadRequest(
            f"invalid image source type: {source.get('type') or ''}. Only base64 images are"
            " supported."
        )


def _tool_result_text(content: Any) -> str:
    """convertToolResultContent (anthropic.go:1010-1060): text of strings and text blocks;
    images must be base64; anything else is dropped."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif block.get("type") == "image":
            if not isinstance(block.get("source"), dict):
                raise BadRequest("invalid tool_result image source")
            _image(block["source"])
    return "".join(parts)


def convert_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """convertMessage (anthropic.go:417-552): an Anthropic turn as Ollama api.Messages.
    Unknown block types (redacted_thinking, document, ...) are dropped silently; thinking
    keeps its text, not its signature."""
    role = str(message.get("role") or "").lower()
    text, calls, results, thinking, images = [], [], [], "", 0
    for block in _blocks(message.get("content")):
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text") or "")
        elif kind == "image":
            _image(block.get("source"))
            images += 1
        elif kind == "tool_use":
            if not block.get("id"):
                raise BadRequest("tool_use block missing required 'id' field")
            if not block.get("name"):
                raise BadRequest("tool_use block missing required 'name' field")
            calls.append({"id": block["id"], "name": block["name"], "args": block.get("input")})
        elif kind == "tool_result":
            results.append(
                {
                    "role": "tool",
                    "content": _tool_result_text(block.get("content")),
                    "tool_call_id": block.get("tool_use_id") or "",
                }
            )
        elif kind == "thinking":
            thinking = block.get("thinking") or ""
    out: list[dict[str, Any]] = []
    if role == "user" and results:
        out += results
    joined = "".join(text)
    if joined or images or calls or thinking:
        out.append({"role": role, "content": joined, "tool_calls": calls, "thinking": thinking})
    if role != "user" or not results:
        out += results
    return out


def system_text(system: Any) -> str:
    """anthropic.go:302-324: a string, or the text blocks of an array, concatenated."""
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "".join(
            str(b.get("text"))
            for b in system
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
    return ""


def tools_of(req: dict[str, Any]) -> list[dict[str, Any]]:
    """convertTool (anthropic.go:616-653): an input_schema must decode as the function's
    parameters object."""
    tools = []
    for tool in req.get("tools") or []:
        schema = tool.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise BadRequest(
                f"invalid input_schema for tool {json.dumps(tool.get('name') or '')}: json:"
                f" cannot unmarshal {_json_kind(schema)} into Go value of type"
                " api.ToolFunctionParameters"
            )
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": tool.get("name") or "",
                    "description": tool.get("description") or "",
                    "parameters": schema or {},
                },
            }
        )
    return tools


def estimate_input_tokens(req: dict[str, Any]) -> int:
    """EstimateCountTokens (anthropic.go:1095-1118): characters / 4, what message_start
    reports before the real count (StreamConverter.Process, anthropic.go:752-758)."""
    total = len(system_text(req.get("system")))
    for message in req.get("messages") or []:
        total += len(str(message.get("role") or ""))
        for block in _blocks(message.get("content")):
            total += len(str(block.get("text") or "")) + len(str(block.get("thinking") or ""))
            if block.get("type") in ("tool_use", "tool_result"):
                total += len(json.dumps(block))
    for tool in req.get("tools") or []:
        total += len(str(tool.get("name") or "")) + len(str(tool.get("description") or ""))
        total += len(json.dumps(tool.get("input_schema"))) if "input_schema" in tool else 0
    tokens = total // 4
    return 1 if tokens == 0 and (req.get("messages") or req.get("system")) else tokens


# --- The prompt and the context window -------------------------------------------------------


def render(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    """The prompt text, laid out as Mistral's tekken templates are (devstral's template on
    ollama.com, which is the model's and not in Ollama's repository): the system prompt
    first, the tools just before the last user turn."""
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    out = ["<s>"]
    for index, message in enumerate(messages):
        role = message["role"]
        if role == "system":
            out.append(f"[SYSTEM_PROMPT]{message['content']}[/SYSTEM_PROMPT]")
        elif role == "user":
            if index == last_user and tools:
                out.append(f"[AVAILABLE_TOOLS]{json.dumps(tools)}[/AVAILABLE_TOOLS]")
            out.append(f"[INST]{message['content']}[/INST]")
        elif role == "tool":
            out.append(f"[TOOL_RESULTS]{message['content']}[/TOOL_RESULTS]")
        else:
            calls = "".join(
                f"[TOOL_CALLS]{c['name']}[ARGS]{json.dumps(c['args'])}"
                for c in message.get("tool_calls") or []
            )
            out.append(f"{message['content']}{calls}</s>")
    return "".join(out)


def count(text: str) -> int:
    return len(canned.tokenize(text))


@dataclass
class Prompt:
    """What reaches the model after Ollama fits the conversation into num_ctx."""

    text: str
    tokens: int
    dropped_messages: int = 0
    cut_tokens: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return bool(self.dropped_messages or self.cut_tokens)


def fit(messages: list[dict[str, Any]], tools: list[dict[str, Any]], num_ctx: int) -> Prompt:
    """Two cuts, both silent to the client:
    1. chatPrompt (server/prompt.go:23-92): drop whole messages from the front, keeping the
       system messages and always the last message, until the render fits num_ctx;
    2. the runner (llm/llama_server.go:279-319): a prompt still over num_ctx - 1 tokens keeps
       its first num_keep tokens (api/types.go:1102, 4, plus the BOS) and the tail, cutting
       to numCtx - (numCtx - nKeep) / 2 (contextShiftPromptLimit, :321-331). Context shift
       is on for every family but deepseek2 (server/sched.go:129-147)."""
    start = 0
    for i in range(len(messages)):
        kept = [m for m in messages[:i] if m["role"] == "system"] + messages[i:]
        if count(render(kept, tools)) <= num_ctx or i == len(messages) - 1:
            start = i
            break
    kept = [m for m in messages[:start] if m["role"] == "system"] + messages[start:]
    dropped = len(messages) - len(kept)
    pieces = canned.tokenize(render(kept, tools))
    if len(pieces) <= num_ctx - 1:
        return Prompt("".join(pieces), len(pieces), dropped, 0, kept)
    n_keep = min(4 + 1, num_ctx - 1)
    limit = num_ctx - max((num_ctx - n_keep) // 2, 1)
    discard = len(pieces) - limit
    cut = pieces[:n_keep] + pieces[n_keep + discard :]
    return Prompt("".join(cut), len(cut), dropped, discard, kept)


def conversation(prompt: Prompt, tools: list[dict[str, Any]]) -> canned.Conversation:
    """The canned model's view: only what survived the cuts. A tool counts as offered when
    its whole definition is still in the prompt; the user's words when they are."""
    seen = [t for t in tools if json.dumps(t) in prompt.text]
    openai_style = [
        {"role": m["role"], "content": m["content"]}
        for m in prompt.messages
        if m["role"] in ("user", "tool") and m["content"] in prompt.text
    ]
    return canned.from_openai(openai_style, seen)


def tool_call_id() -> str:
    """toolCallId (server/routes.go:2305-2312): call_ and 8 of [a-z0-9]."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "call_" + "".join(secrets.choice(alphabet) for _ in range(8))


def message_id() -> str:
    """GenerateMessageID / generateID (anthropic.go:982-995): msg_ and 24 hex digits."""
    return "msg_" + secrets.token_hex(12)


def error_body(status: int, message: str) -> dict[str, Any]:
    """anthropic.NewError (anthropic.go:38-62)."""
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
        503: "overloaded_error",
        529: "overloaded_error",
    }
    return {
        "type": "error",
        "error": {"type": kinds.get(status, "api_error"), "message": message},
        "request_id": "req_" + secrets.token_hex(12),
    }
