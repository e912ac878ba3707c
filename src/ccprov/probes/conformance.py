"""Conformance checks of an Anthropic Messages gateway, as Claude Code uses it.

Each check sends real requests to a live gateway (or any Anthropic-compatible backend) and
validates the content of the answers: the streamed event grammar, streamed against
non-streamed text, tool calls and their round trip, the tool-calling corners reported
against this chain (each check cites its report), cut-offs, errors, Claude Code's own
request shapes, token counting and the ways a key may be sent. `ccprov smoke
--conformance` runs them against the configured gateway; tests/conformance runs them
against the real pinned LiteLLM in front of the vLLM stand-in, once per route.

The canned prompts rely only on what any model (and the stand-in) does: `Say X` answers
X, a request offering the Read tool with an absolute path in it calls Read with that path
(two paths "both at once": two calls; "explain ..., then read PATH": a sentence, then the
call), a forced tool choice calls a tool with arguments its schema allows, and a tool
result comes back quoted.
"""

from __future__ import annotations

import copy
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANTHROPIC_VERSION = "2023-06-01"
CLAUDE_CODE_BETAS = "claude-code-20250219,interleaved-thinking-2025-05-14,effort-2025-11-24"
# The request bodies (captured from the pinned Claude Code) live with the tests.
# Request bodies shaped like real Claude Code's (captured from the pinned CLI), shipped
# inside the package so `ccprov smoke --conformance` has them wherever it is installed.
FIXTURES = Path(__file__).parent / "conformance_fixtures"
# Which content block takes which delta types.
DELTAS = {
    "text": {"text_delta", "citations_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "redacted_thinking": set(),
}
LONG_TOOL_ID = "toolu_01D7FLrfh4GYq7yT1ULFeyMV"
WRONG_KEY = "sk-ccprov-conformance-wrong-key"  # a key no gateway has


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Requests carry a key: a 3xx is an answer to report (as probe.py does), never a hop
    that sends the key to whatever host the Location names."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def opener(ca_file: str = "") -> urllib.request.OpenerDirector:
    """Redirects never followed; TLS verified against CA_FILE (a PEM CA bundle) when given,
    else the system's trust store. Verification is never turned off."""
    if not ca_file:
        return _OPENER
    context = ssl.create_default_context(cafile=ca_file)
    return urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))


class CheckFailed(Exception):
    """A check's verdict: what was wrong, in one line."""


@dataclass(frozen=True)
class Target:
    base_url: str
    token: str
    model: str
    timeout: float = 120.0
    ca_file: str = ""
    """The PEM CA the gateway's certificate chains to (LOCAL_CA_CERT); empty: the system's."""


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise CheckFailed(f"HTTP {self.status}, not JSON: {self.body[:120]!r}") from None

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        return parse_sse(self.body.decode("utf-8", "replace"))


@dataclass
class Result:
    name: str
    ok: bool
    reason: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        return f"ok   {self.name}" if self.ok else f"FAIL {self.name}: {self.reason}"


@dataclass
class Context:
    target: Target
    fixtures: Path
    cache: dict[str, Any] = field(default_factory=dict)
    _opener: urllib.request.OpenerDirector | None = None

    # --- HTTP ---------------------------------------------------------------------------
    def post(
        self,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        auth: str = "bearer",
        token: str | None = None,
    ) -> Reply:
        """POST JSON; auth is `bearer`, `x-api-key` or `none`."""
        data = json.dumps(body).encode()
        url = self.target.base_url.rstrip("/") + path
        # Callers pass the configured http(s) base URL only.
        request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310
        request.add_header("content-type", "application/json")
        request.add_header("anthropic-version", ANTHROPIC_VERSION)
        key = self.target.token if token is None else token
        if auth == "bearer":
            request.add_header("Authorization", f"Bearer {key}")
        elif auth == "x-api-key":
            request.add_header("x-api-key", key)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        if self._opener is None:
            self._opener = opener(self.target.ca_file)
        try:
            with self._opener.open(request, timeout=self.target.timeout) as response:
                return Reply(response.status, response.read(), dict(response.headers.items()))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read(), dict(exc.headers.items()))
        except OSError as exc:
            raise CheckFailed(f"no answer from {url}: {exc}") from None

    def messages(self, body: dict[str, Any], **kwargs: Any) -> Reply:
        return self.post("/v1/messages", {"model": self.target.model, **body}, **kwargs)

    def fixture(self, name: str) -> dict[str, Any]:
        if name not in self.cache:
            self.cache[name] = json.loads((self.fixtures / name).read_text())
        return copy.deepcopy(self.cache[name])


# --- Parsing and validation ---------------------------------------------------------------


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) per server-sent event; data lines that are not JSON objects are
    kept as {"_raw": line} so validation can name them."""
    events: list[tuple[str, dict[str, Any]]] = []
    for chunk in text.replace("\r\n", "\n").split("\n\n"):
        name, data_lines = "", []
        for line in chunk.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data_lines.append(line[5:].strip())
        if not name and not data_lines:
            continue
        raw = "\n".join(data_lines)
        try:
            data = json.loads(raw)
        except ValueError:
            data = {"_raw": raw}
        events.append((name, data if isinstance(data, dict) else {"_raw": raw}))
    return events


def stream_problems(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """What is wrong with a streamed answer's event sequence (empty: nothing)."""
    problems: list[str] = []
    if not events:
        return ["no events"]
    names = [data.get("type", "") for _, data in events]
    for position, (name, data) in enumerate(events):
        if "_raw" in data:
            problems.append(f"event {position} data is not a JSON object: {data['_raw'][:60]!r}")
        elif name != data.get("type"):
            problems.append(f"event {position}: `event: {name}` but data.type {data.get('type')!r}")
        if data.get("type") == "error":
            problems.append(f"error event: {json.dumps(data.get('error'))[:120]}")
    if names.count("message_start") != 1 or names[0] != "message_start":
        problems.append(f"expected exactly one message_start, first; got {names[:3]}")
    if names.count("message_stop") != 1 or names[-1] != "message_stop":
        problems.append(f"expected exactly one message_stop, last; got ...{names[-3:]}")
    if "message_delta" not in names:
        problems.append("no message_delta (stop_reason)")
    opened: dict[int, str] = {}
    closed: set[int] = set()
    next_index = 0
    for _, data in events:
        kind = data.get("type")
        index = data.get("index")
        if kind == "content_block_start":
            block = (data.get("content_block") or {}).get("type", "?")
            if index != next_index:
                problems.append(f"block index {index} started, expected {next_index}")
            if opened.keys() - closed:
                problems.append(
                    f"block {index} started while {sorted(opened.keys() - closed)} open"
                )
            if isinstance(index, int):
                opened[index] = block
                next_index = index + 1
        elif kind == "content_block_delta":
            delta = (data.get("delta") or {}).get("type", "?")
            if index not in opened or index in closed:
                problems.append(f"{delta} for block {index}, which is not open")
            elif delta not in DELTAS.get(opened[index], {delta}):
                problems.append(f"{delta} in a {opened[index]} block (index {index})")
        elif kind == "content_block_stop":
            if not isinstance(index, int) or index not in opened or index in closed:
                problems.append(f"content_block_stop for block {index}, which is not open")
            else:
                closed.add(index)
    unclosed = sorted(opened.keys() - closed)
    if unclosed:
        problems.append(f"blocks {unclosed} never stopped")
    return problems


@dataclass
class Streamed:
    text: str
    tool_uses: list[dict[str, Any]]
    stop_reason: str | None
    usage: dict[str, Any]


def assemble(events: list[tuple[str, dict[str, Any]]]) -> Streamed:
    """The answer a client builds from the events (tool inputs from their JSON fragments)."""
    text: list[str] = []
    blocks: dict[int, dict[str, Any]] = {}
    fragments: dict[int, list[str]] = {}
    stop_reason = None
    usage: dict[str, Any] = {}
    for _, data in events:
        kind = data.get("type")
        if kind == "message_start":
            usage.update((data.get("message") or {}).get("usage") or {})
        elif kind == "content_block_start":
            blocks[data["index"]] = dict(data.get("content_block") or {})
            fragments[data["index"]] = []
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                text.append(str(delta.get("text", "")))
            elif delta.get("type") == "input_json_delta":
                fragments.setdefault(data.get("index", -1), []).append(
                    str(delta.get("partial_json", ""))
                )
        elif kind == "message_delta":
            stop_reason = (data.get("delta") or {}).get("stop_reason", stop_reason)
            usage.update(data.get("usage") or {})
    tools = []
    for index, block in sorted(blocks.items()):
        if block.get("type") != "tool_use":
            continue
        joined = "".join(fragments.get(index, []))
        try:
            block["input"] = json.loads(joined) if joined else block.get("input", {})
        except ValueError:
            block["input_error"] = f"fragments do not join to JSON: {joined[:80]!r}"
        tools.append(block)
    return Streamed("".join(text), tools, stop_reason, usage)


def _error_of(reply: Reply) -> str:
    text = reply.body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):
            text = str(error.get("message") or error)
    except ValueError:
        pass
    return f"HTTP {reply.status}: {' '.join(text.split())[:160]}"


def _ok(reply: Reply) -> Reply:
    if reply.status != 200:
        raise CheckFailed(_error_of(reply))
    return reply


def _stream(reply: Reply) -> Streamed:
    events = _ok(reply).events()
    problems = stream_problems(events)
    if problems:
        raise CheckFailed("; ".join(problems[:3]))
    return assemble(events)


def _text_of(message: dict[str, Any]) -> str:
    return "".join(
        str(b.get("text", "")) for b in message.get("content") or [] if b.get("type") == "text"
    )


def _expect(condition: bool, reason: str) -> None:
    if not condition:
        raise CheckFailed(reason)


def _say(word: str) -> dict[str, Any]:
    return {"max_tokens": 64, "messages": [{"role": "user", "content": f"Say {word}"}]}


# --- The checks ---------------------------------------------------------------------------
CHECKS: list[tuple[str, Callable[[Context], None]]] = []


def check(name: str) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    def register(function: Callable[[Context], None]) -> Callable[[Context], None]:
        CHECKS.append((name, function))
        return function

    return register


@check("stream-events")
def _stream_events(ctx: Context) -> None:
    """One message_start first, one message_stop last, event name = data.type, contiguous
    block indexes, a stop per start, deltas that fit their block; the text is the answer."""
    answer = _stream(ctx.messages({**_say("CONFORMANCE_OK"), "stream": True}))
    _expect(answer.text.strip() == "CONFORMANCE_OK", f"streamed text {answer.text[:60]!r}")
    _expect(answer.stop_reason == "end_turn", f"stop_reason {answer.stop_reason!r}")
    ctx.cache["streamed-text"] = answer.text


@check("stream-usage")
def _stream_usage(ctx: Context) -> None:
    """Token counts a client can track its context window by (Claude Code compacts on
    them): input tokens in message_start or by message_delta, output tokens at the end."""
    answer = _stream(ctx.messages({**_say("USAGE_OK"), "stream": True}))
    usage = answer.usage
    _expect(int(usage.get("input_tokens") or 0) > 0, f"input_tokens {usage.get('input_tokens')!r}")
    _expect(
        int(usage.get("output_tokens") or 0) > 0, f"output_tokens {usage.get('output_tokens')!r}"
    )


@check("stream-equals-non-stream")
def _stream_equals(ctx: Context) -> None:
    body = _say("CONFORMANCE_OK")
    streamed = ctx.cache.get("streamed-text")
    if streamed is None:
        streamed = _stream(ctx.messages({**body, "stream": True})).text
    message = _ok(ctx.messages(body)).json()
    _expect(message.get("type") == "message", f"not a message: {str(message)[:80]}")
    text = _text_of(message)
    _expect(text == streamed, f"non-streamed {text[:40]!r} != streamed {streamed[:40]!r}")
    _expect(message.get("stop_reason") == "end_turn", f"stop_reason {message.get('stop_reason')!r}")


@check("tool-call-stream")
def _tool_stream(ctx: Context) -> None:
    fixture = ctx.fixture("tool_request.json")
    answer = _stream(ctx.messages({**fixture["body"], "stream": True}))
    _expect(len(answer.tool_uses) == 1, f"{len(answer.tool_uses)} tool_use blocks")
    tool = answer.tool_uses[0]
    _expect("input_error" not in tool, str(tool.get("input_error")))
    _expect(tool.get("name") == "Read", f"tool {tool.get('name')!r}")
    _expect(
        tool.get("input") == fixture["expected_input"],
        f"input {json.dumps(tool.get('input'))[:80]} != {json.dumps(fixture['expected_input'])}",
    )
    _expect(bool(tool.get("id")), "tool_use without an id")
    _expect(answer.stop_reason == "tool_use", f"stop_reason {answer.stop_reason!r}")


@check("tool-call-non-stream")
def _tool_non_stream(ctx: Context) -> None:
    fixture = ctx.fixture("tool_request.json")
    message = _ok(ctx.messages(fixture["body"])).json()
    tools = [b for b in message.get("content") or [] if b.get("type") == "tool_use"]
    _expect(len(tools) == 1, f"{len(tools)} tool_use blocks")
    _expect(tools[0].get("input") == fixture["expected_input"], f"input {tools[0].get('input')}")
    _expect(message.get("stop_reason") == "tool_use", f"stop_reason {message.get('stop_reason')!r}")
    ctx.cache["tool-use"] = tools[0]


def _round_trip(ctx: Context, tool_id: str | None) -> None:
    fixture = ctx.fixture("tool_request.json")
    tool = ctx.cache.get("tool-use")
    if tool is None:
        message = _ok(ctx.messages(fixture["body"])).json()
        found = [b for b in message.get("content") or [] if b.get("type") == "tool_use"]
        _expect(bool(found), "no tool_use to answer")
        tool = found[0]
    tool = {**tool, "id": tool_id or tool["id"]}
    result = "conformance line one: the keys rotate on Mondays"
    body = fixture["body"]
    body["messages"] += [
        {"role": "assistant", "content": [tool]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool["id"], "content": result}],
        },
    ]
    answer = _stream(ctx.messages({**body, "stream": True}))
    _expect("rotate on Mondays" in answer.text, f"reply does not quote it: {answer.text[:60]!r}")
    _expect(answer.stop_reason == "end_turn", f"stop_reason {answer.stop_reason!r}")


@check("tool-round-trip")
def _tool_round_trip(ctx: Context) -> None:
    _round_trip(ctx, None)


@check("tool-round-trip-long-id")
def _tool_round_trip_long(ctx: Context) -> None:
    """A conversation carrying Anthropic-style ids (toolu_..., e.g. begun on another backend)."""
    _round_trip(ctx, LONG_TOOL_ID)


@check("max-tokens-not-tool-use")
def _max_tokens(ctx: Context) -> None:
    """An answer cut off by max_tokens must say max_tokens, not tool_use (a half tool call
    reported as complete makes the client run it with broken input)."""
    fixture = ctx.fixture("tool_request.json")
    answer = _stream(ctx.messages({**fixture["body"], "max_tokens": 3, "stream": True}))
    output = int(answer.usage.get("output_tokens") or 0)
    _expect(answer.stop_reason != "tool_use", f"a 3-token cut-off reported tool_use ({output} out)")
    _expect(answer.stop_reason == "max_tokens", f"stop_reason {answer.stop_reason!r}")


@check("over-long-prompt-400")
def _over_long(ctx: Context) -> None:
    """A prompt beyond any context window is the client's error (400), not the server's."""
    words = "conformance " * 400_000  # ~4.8 MB, far more tokens than any served window
    reply = ctx.messages({"max_tokens": 16, "messages": [{"role": "user", "content": words}]})
    _expect(reply.status == 400, f"expected 400, got {_error_of(reply)}")
    error = reply.json()
    _expect(
        isinstance(error, dict) and error.get("type") == "error" and "error" in error,
        f"not an Anthropic error body: {reply.body[:100]!r}",
    )


def _claude_code(ctx: Context, word: str, change: Callable[[dict[str, Any]], None]) -> None:
    """The captured Claude Code request (streamed, ?beta=true, its beta header), with the
    user's words replaced by `Say WORD` and CHANGE applied; the answer must be WORD."""
    fixture = ctx.fixture("claude_code_request.json")
    body = fixture["body"]
    body["model"] = ctx.target.model
    last = body["messages"][0]["content"]
    last[-1] = {"type": "text", "text": f"Say {word}"}
    change(body)
    reply = ctx.post(fixture["path"], body, headers=fixture["headers"])
    answer = _stream(reply)
    _expect(answer.text.strip() == word, f"answer {answer.text[:60]!r}, expected {word}")


@check("claude-code-request")
def _cc_plain(ctx: Context) -> None:
    """As sent: adaptive thinking, effort, 12 tools, metadata.user_id with session_id."""
    _claude_code(ctx, "CC_PLAIN_OK", lambda body: None)


@check("claude-code-cache-ttl")
def _cc_ttl(ctx: Context) -> None:
    def change(body: dict[str, Any]) -> None:
        body["system"][1]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
        body["messages"][0]["content"][-1]["cache_control"] = {"type": "ephemeral", "ttl": "5m"}

    _claude_code(ctx, "CC_TTL_OK", change)


@check("claude-code-billing-header")
def _cc_billing(ctx: Context) -> None:
    def change(body: dict[str, Any]) -> None:
        body["system"][0] = {
            "type": "text",
            "text": "x-anthropic-billing-header: cc_version=2.1.331.c6a; cc_entrypoint=cli;"
            f" cch={int(time.time() * 1000) % 100000:05d};",
        }

    _claude_code(ctx, "CC_BILLING_OK", change)


@check("claude-code-inline-system")
def _cc_inline_system(ctx: Context) -> None:
    def change(body: dict[str, Any]) -> None:
        _expect(
            any(m.get("role") == "system" for m in body["messages"]), "fixture lost its system turn"
        )
        body["messages"].append({"role": "system", "content": "Reminder: answer briefly."})

    _claude_code(ctx, "CC_SYSTEM_OK", change)


@check("claude-code-context-management")
def _cc_context(ctx: Context) -> None:
    def change(body: dict[str, Any]) -> None:
        body["context_management"] = {
            "edits": [
                {"type": "clear_thinking_20251015", "keep": "all"},
                {
                    "type": "clear_tool_uses_20250919",
                    "trigger": {"type": "input_tokens", "value": 180000},
                },
            ]
        }

    _claude_code(ctx, "CC_CONTEXT_OK", change)


@check("claude-code-thinking-budget")
def _cc_thinking(ctx: Context) -> None:
    def change(body: dict[str, Any]) -> None:
        body["thinking"] = {"type": "enabled", "budget_tokens": 31999}
        body["max_tokens"] = 32000
        body.pop("output_config", None)

    _claude_code(ctx, "CC_THINKING_OK", change)


@check("claude-code-strict-tool-schema")
def _cc_schema(ctx: Context) -> None:
    def change(body: dict[str, Any]) -> None:
        schema = ctx.fixture("tool_request.json")["body"]["tools"][0]["input_schema"]
        _expect(
            schema.get("$schema", "").startswith("http")
            and schema.get("additionalProperties") is False,
            "fixture schema lost $schema/additionalProperties",
        )
        body["tools"].append(
            {"name": "ReadStrict", "description": "Read, strictly typed.", "input_schema": schema}
        )

    _claude_code(ctx, "CC_SCHEMA_OK", change)


# --- Tool-calling corners reported against this chain (issue #30) -------------------------
CONFIGURE = {
    "name": "Configure",
    "description": "Sets how a job runs.",
    "input_schema": {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "minimum": 3},
            "verbose": {"type": "boolean"},
            "options": {
                "type": "object",
                "properties": {
                    "depth": {"type": "integer", "minimum": 2},
                    "label": {"type": "string"},
                },
                "required": ["depth", "label"],
            },
        },
        "required": ["count", "verbose", "options"],
    },
}
PATHS = ("/srv/conformance/a.txt", "/srv/conformance/b.txt")


def _read_tool(ctx: Context) -> dict[str, Any]:
    tool: dict[str, Any] = ctx.fixture("tool_request.json")["body"]["tools"][0]
    return tool


def _tool_body(ctx: Context, prompt: str, **extra: Any) -> dict[str, Any]:
    return {
        "max_tokens": 256,
        "tools": [_read_tool(ctx)],
        "messages": [{"role": "user", "content": prompt}],
        **extra,
    }


def _blocks_of(answer: Streamed | dict[str, Any], kind: str) -> list[dict[str, Any]]:
    if isinstance(answer, Streamed):
        return answer.tool_uses if kind == "tool_use" else []
    return [b for b in answer.get("content") or [] if b.get("type") == kind]


def _answer_tools(
    ctx: Context, body: dict[str, Any], assistant: list[dict[str, Any]], results: list[str]
) -> Streamed:
    """BODY's conversation, then ASSISTANT's blocks, then one tool_result per tool_use with
    RESULTS in order, all in one user turn; the streamed answer."""
    calls = [b for b in assistant if b.get("type") == "tool_use"]
    body = copy.deepcopy(body)
    body["messages"] += [
        {"role": "assistant", "content": assistant},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call["id"], "content": result}
                for call, result in zip(calls, results, strict=True)
            ],
        },
    ]
    body.pop("tool_choice", None)
    return _stream(ctx.messages({**body, "stream": True}))


def _as_block(tool: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool["id"], "name": tool["name"], "input": tool["input"]}


@check("tool-calls-parallel-stream")
def _parallel(ctx: Context) -> None:
    """Two calls in one streamed turn (indexes, ids and inputs kept apart), answered
    together in one user turn: parallel calls are where streamed tool translation has
    broken across engines (issue #30's list; vLLM's Mistral parser streams each call from
    its own index)."""
    body = _tool_body(ctx, f"Read {PATHS[0]} and {PATHS[1]}, both at once.")
    answer = _stream(ctx.messages({**body, "stream": True}))
    tools = answer.tool_uses
    _expect(len(tools) == 2, f"{len(tools)} tool_use blocks, expected 2")
    _expect(all("input_error" not in t for t in tools), str([t.get("input_error") for t in tools]))
    inputs = [t.get("input", {}).get("file_path") for t in tools]
    _expect(inputs == list(PATHS), f"inputs {inputs}")
    _expect(len({t.get("id") for t in tools}) == 2, "the two calls share an id")
    _expect(answer.stop_reason == "tool_use", f"stop_reason {answer.stop_reason!r}")
    reply = _answer_tools(
        ctx, body, [_as_block(t) for t in tools], ["alpha says one", "beta says two"]
    )
    _expect(
        "alpha says one" in reply.text and "beta says two" in reply.text,
        f"the reply does not quote both results: {reply.text[:80]!r}",
    )


@check("text-then-tool-call-stream")
def _text_then_call(ctx: Context) -> None:
    """Text, then a tool call in the same streamed turn: the text block comes first and
    holds the words, the turn stops with tool_use, no empty text block (LiteLLM issue 34692:
    end_turn and a spurious empty text block when a turn holds a tool call)."""
    body = _tool_body(ctx, f"Explain what you will do, then read {PATHS[0]}.")
    events = _ok(ctx.messages({**body, "stream": True})).events()
    problems = stream_problems(events)
    _expect(not problems, "; ".join(problems[:3]))
    answer = assemble(events)
    kinds = [
        (d.get("content_block") or {}).get("type")
        for _, d in events
        if d.get("type") == "content_block_start"
    ]
    _expect(kinds[:1] == ["text"] and "tool_use" in kinds, f"blocks {kinds}")
    texts = _text_blocks(events)
    _expect(all(t.strip() for t in texts), f"an empty text block among {texts}")
    _expect(len(answer.tool_uses) == 1, f"{len(answer.tool_uses)} tool_use blocks")
    _expect(answer.stop_reason == "tool_use", f"stop_reason {answer.stop_reason!r}")
    ctx.cache["text-then-call"] = (body, answer)


def _text_blocks(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    texts: dict[int, str] = {}
    for _, data in events:
        if data.get("type") == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "text":
                texts[data["index"]] = str(block.get("text", ""))
        elif data.get("type") == "content_block_delta" and data.get("index") in texts:
            texts[data["index"]] += str((data.get("delta") or {}).get("text", ""))
    return list(texts.values())


@check("text-then-tool-call-replayed")
def _text_then_call_replayed(ctx: Context) -> None:
    """That turn (text and tool_use in one assistant message) replayed in the history with
    its result: the Mistral API refuses an assistant message holding both content and
    tool_calls with 422 (github/copilot-cli#4884), so a translating layer must split it."""
    if "text-then-call" not in ctx.cache:
        _text_then_call(ctx)
    body, answer = ctx.cache["text-then-call"]
    assistant = [
        {"type": "text", "text": answer.text},
        *[_as_block(t) for t in answer.tool_uses],
    ]
    reply = _answer_tools(ctx, body, assistant, ["gamma says three"])
    _expect("gamma says three" in reply.text, f"reply {reply.text[:80]!r}")
    _expect(reply.stop_reason == "end_turn", f"stop_reason {reply.stop_reason!r}")


@check("tool-choice-any")
def _choice_any(ctx: Context) -> None:
    """`tool_choice: any` makes a tool call even when the words ask for none (Claude Code's
    structured-output and agent calls use it; issue #30's list)."""
    body = _tool_body(ctx, "Say CHOICE_ANY", tool_choice={"type": "any"})
    message = _ok(ctx.messages(body)).json()
    tools = _blocks_of(message, "tool_use")
    _expect(len(tools) >= 1, f"no tool_use: {_text_of(message)[:60]!r}")
    _expect(tools[0].get("name") == "Read", f"tool {tools[0].get('name')!r}")
    _expect(message.get("stop_reason") == "tool_use", f"stop_reason {message.get('stop_reason')!r}")


@check("tool-choice-none")
def _choice_none(ctx: Context) -> None:
    """`tool_choice: none` answers in text although the words ask for a tool."""
    body = _tool_body(ctx, f"Read {PATHS[0]}.", tool_choice={"type": "none"})
    message = _ok(ctx.messages(body)).json()
    _expect(not _blocks_of(message, "tool_use"), "a tool_use despite tool_choice none")
    _expect(bool(_text_of(message).strip()), "no text")
    _expect(message.get("stop_reason") == "end_turn", f"stop_reason {message.get('stop_reason')!r}")


@check("tool-choice-disable-parallel")
def _choice_no_parallel(ctx: Context) -> None:
    """`disable_parallel_tool_use: true` allows one call per turn."""
    body = _tool_body(
        ctx,
        f"Read {PATHS[0]} and {PATHS[1]}, both at once.",
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    message = _ok(ctx.messages(body)).json()
    tools = _blocks_of(message, "tool_use")
    _expect(len(tools) <= 1, f"{len(tools)} tool_use blocks despite disable_parallel_tool_use")


def _typed(tool_input: Any) -> str:
    """What is wrong with Configure's arguments' types (empty: nothing)."""
    if not isinstance(tool_input, dict):
        return f"input {tool_input!r} is not an object"
    options = tool_input.get("options")
    wrong = [
        name
        for name, ok in (
            ("count", type(tool_input.get("count")) is int),
            ("verbose", type(tool_input.get("verbose")) is bool),
            ("options", isinstance(options, dict)),
            ("options.depth", isinstance(options, dict) and type(options.get("depth")) is int),
            ("options.label", isinstance(options, dict) and isinstance(options.get("label"), str)),
        )
        if not ok
    ]
    return f"wrong types for {wrong} in {json.dumps(tool_input)[:100]}" if wrong else ""


@check("tool-arguments-typed")
def _typed_arguments(ctx: Context) -> None:
    """Integer, boolean and nested-object arguments arrive typed, streamed and not: vLLM's
    Mistral parser failed on integer arguments when streaming (vllm-project/vllm#13622)."""
    body = {
        "max_tokens": 256,
        "tools": [CONFIGURE],
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": "Configure the nightly job."}],
    }
    streamed = _stream(ctx.messages({**body, "stream": True}))
    _expect(len(streamed.tool_uses) == 1, f"streamed: {len(streamed.tool_uses)} tool_use blocks")
    tool = streamed.tool_uses[0]
    _expect("input_error" not in tool, f"streamed: {tool.get('input_error')}")
    problem = _typed(tool.get("input"))
    _expect(not problem, f"streamed: {problem}")
    message = _ok(ctx.messages(body)).json()
    tools = _blocks_of(message, "tool_use")
    _expect(len(tools) == 1, f"non-streamed: {len(tools)} tool_use blocks")
    problem = _typed(tools[0].get("input"))
    _expect(not problem, f"non-streamed: {problem}")


def _tool_result_turn(ctx: Context, content: Any, is_error: bool = False) -> Streamed:
    body = _tool_body(ctx, f"Read {PATHS[0]}.")
    call = {
        "type": "tool_use",
        "id": LONG_TOOL_ID,
        "name": "Read",
        "input": {"file_path": PATHS[0]},
    }
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": LONG_TOOL_ID,
        "content": content,
    }
    if is_error:
        result["is_error"] = True
    body["messages"] += [
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result]},
    ]
    return _stream(ctx.messages({**body, "stream": True}))


@check("tool-result-array-is-error")
def _result_error(ctx: Context) -> None:
    """A tool_result whose content is a list of blocks and which carries is_error, as
    Claude Code sends a failed tool (issue #30's list)."""
    content = [{"type": "text", "text": "Error: no such file, the path is wrong"}]
    reply = _tool_result_turn(ctx, content, is_error=True)
    _expect("no such file" in reply.text, f"reply {reply.text[:80]!r}")


@check("tool-result-image")
def _result_image(ctx: Context) -> None:
    """A tool_result holding text and an image, as Claude Code's Read returns a screenshot
    (issue #27/#30): vLLM refuses the image for a text-only model, the gateway's
    litellm_gateway_text_only rewrite turns it into a note, so the text still arrives."""
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
        "awAAAABJRU5ErkJggg=="
    )
    content = [
        {"type": "text", "text": "screenshot caption: the build is green"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
    ]
    reply = _tool_result_turn(ctx, content)
    _expect("the build is green" in reply.text, f"reply {reply.text[:80]!r}")


@check("stop-sequences")
def _stop_sequences(ctx: Context) -> None:
    """`stop_sequences` cut the answer before the sequence and say so, streamed and not:
    LiteLLM's /v1/messages has dropped them (BerriAI/litellm#33075, #37118), and servers
    have reported end_turn for a stop sequence."""
    body = {**_say("ALPHA_STOP_BETA"), "stop_sequences": ["_STOP"]}
    message = _ok(ctx.messages(body)).json()
    _expect(_text_of(message) == "ALPHA", f"non-streamed text {_text_of(message)[:40]!r}")
    _expect(
        message.get("stop_reason") == "stop_sequence" and message.get("stop_sequence") == "_STOP",
        f"non-streamed stop {message.get('stop_reason')!r} {message.get('stop_sequence')!r}",
    )
    events = _ok(ctx.messages({**body, "stream": True})).events()
    answer = assemble(events)
    _expect(answer.text == "ALPHA", f"streamed text {answer.text[:40]!r}")
    deltas = [d.get("delta") or {} for _, d in events if d.get("type") == "message_delta"]
    stop = deltas[-1] if deltas else {}
    _expect(
        stop.get("stop_reason") == "stop_sequence" and stop.get("stop_sequence") == "_STOP",
        f"streamed stop {stop.get('stop_reason')!r} {stop.get('stop_sequence')!r}",
    )


@check("non-stream-fields")
def _non_stream_fields(ctx: Context) -> None:
    """Every field of a non-streamed Message, `stop_sequence` present even when null: SDKs
    that validate the reply refuse it otherwise (ogx-ai/ogx#5521; vLLM omits it,
    vllm-project/vllm#56371)."""
    message = _ok(ctx.messages(_say("FIELDS_OK"))).json()
    missing = [
        k
        for k in ("id", "type", "role", "content", "model", "stop_reason", "stop_sequence", "usage")
        if k not in message
    ]
    _expect(not missing, f"fields missing: {missing}")
    _expect(
        message["type"] == "message" and message["role"] == "assistant",
        f"type/role {message['type']!r}/{message['role']!r}",
    )
    _expect(message["stop_sequence"] is None, f"stop_sequence {message['stop_sequence']!r}")
    usage = message["usage"] or {}
    _expect(
        type(usage.get("input_tokens")) is int and type(usage.get("output_tokens")) is int,
        f"usage {usage}",
    )


@check("count-tokens")
def _count_tokens(ctx: Context) -> None:
    def count(text: str) -> int:
        body = {"model": ctx.target.model, "messages": [{"role": "user", "content": text}]}
        reply = _ok(ctx.post("/v1/messages/count_tokens", body))
        value = reply.json().get("input_tokens")
        _expect(type(value) is int and value > 0, f"input_tokens {value!r}")
        return int(value)

    short, long = count("Say OK"), count("Say OK. " + "more words here " * 200)
    _expect(long > short, f"a longer prompt counted {long} <= {short}")


@check("key-as-bearer")
def _key_bearer(ctx: Context) -> None:
    answer = _stream(ctx.messages({**_say("BEARER_OK"), "stream": True}, auth="bearer"))
    _expect(answer.text.strip() == "BEARER_OK", f"answer {answer.text[:40]!r}")


@check("key-as-x-api-key")
def _key_x_api_key(ctx: Context) -> None:
    answer = _stream(ctx.messages({**_say("XAPIKEY_OK"), "stream": True}, auth="x-api-key"))
    _expect(answer.text.strip() == "XAPIKEY_OK", f"answer {answer.text[:40]!r}")


@check("wrong-key-401")
def _wrong_key(ctx: Context) -> None:
    for auth in ("bearer", "x-api-key"):
        reply = ctx.messages(_say("NO"), auth=auth, token=WRONG_KEY)
        _expect(reply.status == 401, f"a wrong key as {auth}: {_error_of(reply)}")


def fixtures_dir() -> Path:
    return FIXTURES


def run(target: Target, only: str | None = None, fixtures: Path | None = None) -> Iterator[Result]:
    """Run the checks (those whose name contains ONLY), yielding one result each."""
    ctx = Context(target, fixtures or fixtures_dir())
    for name, function in CHECKS:
        if only and only not in name:
            continue
        start = time.perf_counter()
        try:
            function(ctx)
            yield Result(name, True, seconds=time.perf_counter() - start)
        except CheckFailed as exc:
            yield Result(name, False, str(exc), time.perf_counter() - start)
        except Exception as exc:  # a check must report, never crash the run
            yield Result(name, False, f"{type(exc).__name__}: {exc}", time.perf_counter() - start)


def names() -> list[str]:
    return [name for name, _ in CHECKS]


def main(argv: list[str] | None = None) -> int:
    """Standalone, stdlib only (the real-GPU scenario copies this file to the GPU host):
    CCPROV_CONFORMANCE_KEY=... python3 conformance.py URL [--model M] [--fixtures DIR]."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000 (vLLM) or the gateway")
    parser.add_argument("--model", default="devstral")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--only", default=None, help="run the checks whose name holds this")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--ca-file", default="", help="PEM CA to verify an https:// gateway with (default: system)"
    )
    args = parser.parse_args(argv)
    key = os.environ.get("CCPROV_CONFORMANCE_KEY", "")
    target = Target(args.base_url, key, args.model, args.timeout, args.ca_file)
    failed = 0
    for result in run(target, args.only, args.fixtures):
        print(result.line(), flush=True)
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
