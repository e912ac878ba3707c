"""The stand-in's canned, deterministic "model".

Nothing here is a real model. What tests can rely on (see README.md, "canned model"):
- `Say X` -> the reply `X`;
- the `Read` tool offered and one absolute path in the user's words -> one `Read` call;
  two or more paths -> parallel `Read` calls (one per path, indexes 0, 1, ...);
- "explain then read PATH" -> a sentence of text, then a `Read` call in the same turn;
- Claude Code's compaction request (a `<summary>` block asked for) -> a short summary;
- after tool results come back -> a reply quoting them;
- `STANDIN_MIDSTREAM_ERROR` -> a few tokens, then the engine fails (an error frame).

Token counts are not made here: the server renders and counts in real tekken tokens
through mistral-common (tekken.py). This module stays stdlib-only: the reference backend's
scripted engine (tests/vllm_reference/engine.py) loads it by path for the same answers.
`tokenize` is only a text splitter, for stand-ins that stream a reply in pieces
(tests/standins/mistral_api); it counts nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from random import choices
from string import ascii_letters, digits
from typing import Any

_TOKEN = re.compile(r" ?\w{1,8}| ?[^\w\s]|\s", re.UNICODE)
_SAY = re.compile(r"\bSay\s+([A-Za-z0-9_.\-]+)")
_PATH = re.compile(r"(?<![\w/])(/[\w.\-/]+)")
_EXPLAIN_THEN_READ = re.compile(r"\bexplain\b.*\bthen\b.*\bread\b", re.I | re.S)
# Claude Code's compaction request ends asking for "an <analysis> block followed by a
# <summary> block"; a model answers with text only (its tool calls would be rejected).
_SUMMARY_REQUEST = re.compile(r"followed by a <summary> block")
SUMMARY = "<summary>The user asked for short replies and got them.</summary>"
MIDSTREAM_ERROR_TRIGGER = "STANDIN_MIDSTREAM_ERROR"
FALLBACK = "I am the vLLM stand-in used by ccprov's tests; I can only say things and read files."

_ALPHANUMERIC = ascii_letters + digits


def tokenize(text: str) -> list[str]:
    """Text in word-sized pieces, losslessly (`"".join(tokenize(t)) == t`); not tekken."""
    return _TOKEN.findall(text)


def new_tool_id() -> str:
    """vLLM's `MistralToolCall.generate_random_id` (vllm/parser/mistral.py): 9 alphanumerics."""
    return "".join(choices(_ALPHANUMERIC, k=9))  # noqa: S311 (as vLLM does)


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


@dataclass
class Conversation:
    last_role: str  # "user" or "tool"
    user_text: str
    tool_results: list[str]
    tools: list[dict[str, Any]]


@dataclass
class Segment:
    text: str = ""
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


def _prompt_text(text: str) -> str:
    """Drop Claude Code's <system-reminder> blocks: the user's own words are what count."""
    return re.sub(r"<system-reminder>.*?</system-reminder>", "", text, flags=re.S)


def _users_words(messages: list[dict[str, Any]]) -> str:
    """The user's own prompt: the newest user text that is not one of Claude Code's
    <system-reminder> blocks or "Operator note" messages."""
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
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, _text_of(message.get("content")))
    return Conversation(
        last_role="tool" if results else "user",
        user_text=_users_words(messages),
        tool_results=results,
        tools=[t.get("function") or {} for t in tools],
    )


def args_for_schema(schema: Any, path: str | None = None) -> Any:
    """Smallest arguments valid for a JSON schema (for a forced tool call)."""
    if not isinstance(schema, dict):
        return {}
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0] if kind else "object"
    if kind == "object":
        props = schema.get("properties") or {}
        return {
            name: args_for_schema(props.get(name, {}), path)
            for name in schema.get("required") or []
        }
    if kind == "string":
        return path or "x"
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    return None


def respond(conversation: Conversation, tool_choice: Any, allow_tools: bool) -> list[Segment]:
    """The canned answer. `tool_choice` is the OpenAI-style value ("auto", "none",
    "required" or {"type": "function", "function": {"name": N}}); like Mistral's grammar
    modes, "none" never calls a tool and "required"/named always do."""
    text = _prompt_text(conversation.user_text)
    names = [str(t.get("name", "")) for t in conversation.tools]
    forced = tool_choice == "required" or isinstance(tool_choice, dict)
    may_call = allow_tools and tool_choice != "none" and bool(names)
    segments: list[Segment] = []
    paths = list(dict.fromkeys(p.rstrip(".") for p in _PATH.findall(text)))
    if conversation.last_role == "tool":
        lines = []
        for result in conversation.tool_results:
            lines += [ln for ln in result.strip().splitlines() if ln.strip()][:6]
        segments.append(Segment(text="The tool returned:\n" + "\n".join(lines)))
    elif _SUMMARY_REQUEST.search(text):
        segments.append(Segment(text=SUMMARY))
    elif MIDSTREAM_ERROR_TRIGGER in text:
        segments.append(Segment(text="This reply breaks off in the middle because"))
    elif (say := _SAY.search(text)) is not None:
        segments.append(Segment(text=say.group(1).rstrip(".")))
    elif paths and may_call and "Read" in names:
        if _EXPLAIN_THEN_READ.search(text):
            segments.append(Segment(text=f"I will read {paths[0]} first."))
            segments.append(Segment(tool="Read", args={"file_path": paths[0]}))
        else:
            segments += [Segment(tool="Read", args={"file_path": p}) for p in paths]
    else:
        segments.append(Segment(text=FALLBACK))
    if forced and allow_tools and names:
        wanted = tool_choice["function"]["name"] if isinstance(tool_choice, dict) else None
        calls = [s for s in segments if s.tool and (wanted is None or s.tool == wanted)]
        if not calls:
            name = wanted or names[0]
            schema = next(
                (t.get("parameters") for t in conversation.tools if t.get("name") == name), {}
            )
            calls = [Segment(tool=name, args=args_for_schema(schema, paths[0] if paths else None))]
        segments = calls  # the grammar starts the answer with [TOOL_CALLS]
    return segments
