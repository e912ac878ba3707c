"""The stand-in's canned, deterministic "model": a few behaviours tests can rely on."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

_ALNUM = string.ascii_letters + string.digits
_SAY = re.compile(r"\bSay\s+([A-Za-z0-9_.\-]+)")
_PATH = re.compile(r"(?<![\w/])(/[\w.\-/]+)")
FALLBACK = "I am the vLLM stand-in used by ccprov's tests; I can only say things and read files."


@dataclass
class Conversation:
    last_role: str  # "user" or "tool"
    user_text: str
    tool_result: str
    tools: list[str]
    tool_ids: list[str] = field(default_factory=list)


@dataclass
class Turn:
    text: str = ""
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


def new_tool_id() -> str:
    """Mistral-style tool-call id: exactly 9 alphanumerics."""
    return "".join(secrets.choice(_ALNUM) for _ in range(9))


def valid_mistral_id(tool_id: str) -> bool:
    return len(tool_id) == 9 and all(c in _ALNUM for c in tool_id)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict):
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                parts.append(_text_of(block.get("content")))
    return "\n".join(parts)


def _users_words(messages: list[dict[str, Any]]) -> str:
    """The user's own prompt: the newest user text that is not one of Claude Code's
    <system-reminder> blocks or "Operator note" messages (system context it sends as
    user-role messages)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = (
            [content]
            if isinstance(content, str)
            else [
                str(b.get("text", ""))
                for b in content or []
                if isinstance(b, dict) and b.get("type") == "text"
            ]
        )
        if blocks and blocks[0].lstrip().startswith("Operator note"):
            continue
        words = _prompt_text("\n".join(blocks)).strip()
        if words:
            return words
    return ""


def from_openai(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Conversation:
    ids: list[str] = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            ids.append(str(call.get("id", "")))
        if message.get("role") == "tool":
            ids.append(str(message.get("tool_call_id", "")))
    last = messages[-1]
    return Conversation(
        last_role="tool" if last.get("role") == "tool" else "user",
        user_text=_users_words(messages),
        tool_result=_text_of(last.get("content")) if last.get("role") == "tool" else "",
        tools=[str((t.get("function") or {}).get("name", "")) for t in tools],
        tool_ids=ids,
    )


def from_anthropic(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Conversation:
    ids: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    ids.append(str(block.get("id", "")))
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    ids.append(str(block.get("tool_use_id", "")))
    last = messages[-1]
    content = last.get("content")
    results = (
        [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if isinstance(content, list)
        else []
    )
    user_text = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            text = _text_of(
                [b for b in message["content"] if b.get("type") == "text"]
                if isinstance(message.get("content"), list)
                else message.get("content")
            )
            if text.strip():
                user_text = text
                break
    return Conversation(
        last_role="tool" if results else "user",
        user_text=user_text,
        tool_result="\n".join(_text_of(r.get("content")) for r in results),
        tools=[str(t.get("name", "")) for t in tools],
        tool_ids=ids,
    )


def _prompt_text(text: str) -> str:
    """Drop Claude Code's <system-reminder> blocks: the user's own words are what count."""
    return re.sub(r"<system-reminder>.*?</system-reminder>", "", text, flags=re.S)


def respond(conversation: Conversation) -> Turn:
    if conversation.last_role == "tool":
        lines = [ln for ln in conversation.tool_result.strip().splitlines() if ln.strip()][:6]
        return Turn(text="The tool returned:\n" + "\n".join(lines))
    text = _prompt_text(conversation.user_text)
    say = _SAY.search(text)
    if say:
        return Turn(text=say.group(1).rstrip("."))
    path = _PATH.search(text)
    if path and "Read" in conversation.tools:
        return Turn(tool="Read", args={"file_path": path.group(1).rstrip(".")})
    return Turn(text=FALLBACK)


def pieces(text: str, size: int = 16) -> list[str]:
    """Split a reply into stream deltas."""
    return [text[i : i + size] for i in range(0, len(text), size)] or []
