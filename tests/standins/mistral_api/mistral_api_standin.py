#!/usr/bin/env python3
"""Stand-in for the Mistral API (https://api.mistral.ai/v1), for ccprov's tests only.

The real API needs the internet and a paid key, so the `vibe` route's tests point the
workstation's loopback LiteLLM proxy at this. It honours the parts of the real interface
LiteLLM's `mistral/` provider uses: `POST /v1/chat/completions` (streaming as SSE ending
in `data: [DONE]`, tool calls with Mistral's 9-character ids), `GET /v1/models`, Bearer
keys (401 `{"message": "Unauthorized"}` otherwise), and it refuses what the real API
refuses (README.md, "What it refuses"; each rule below cites where it comes from):
422 for a request outside the spec (unknown fields at any level, a tool_choice object other
than the spec's, an assistant turn with both content and tool calls), 400 for an unknown
model, tool-call ids that are not 9 alphanumerics, and a prompt plus max_tokens over the
context length. Replies come from the vLLM stand-in's canned model (`Say X` -> `X`),
cut off at max_tokens.

    python3 mistral_api_standin.py --port 8100 --api-key KEY [--model devstral-medium-latest]
        [--request-log FILE [--log-bodies]]   # one JSON line per request: path, model,
                                               # stream, fields, status, refused (the rule)
        [--max-context TOKENS]                # default 131072 (the stand-in's tokens)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "vllm" / "src"))
from vllm import model as canned

# --- What the real API accepts ---------------------------------------------------------------
# Read from Mistral's own client, generated from its published OpenAPI spec: PyPI `mistralai`
# 3.7.0 (`pip download mistralai --no-deps`, unzip the wheel). Paths below are in that wheel.
# The spec describes shapes; the rules the server adds on top (extra fields forbidden, the
# content/tool_calls exclusion, the id format) come from its answers in public reports and
# from mistral_common, cited where each is checked.

# mistralai/client/models/chatcompletionrequest.py, class ChatCompletionRequest (the stream
# request, models/chatcompletionstreamrequest.py, has the same fields). Nothing else: no
# `stream_options`, `max_completion_tokens`, `seed`, `user`, `store`, `thinking`.
FIELDS = {
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "metadata",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "min_tokens",
    "repetition_penalty",
    "top_k",
    "logprobs",
    "top_logprobs",
    "prompt_logprobs",
    "top_prompt_logprobs",
    "n",
    "prediction",
    "parallel_tool_calls",
    "reasoning_effort",
    "prompt_mode",
    "guardrails",
    "prompt_cache_key",
    "service_tier",
    "safe_prompt",
}
# The message union, discriminated by role (ChatCompletionRequestMessage): models/
# systemmessage.py, usermessage.py, assistantmessage.py (content, tool_calls, prefix),
# toolmessage.py (content, tool_call_id, name); a tool call is models/toolcall.py (function,
# id, type, index) around models/functioncall.py (name, arguments).
MESSAGE_FIELDS = {
    "system": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls", "prefix"},
    "tool": {"role", "content", "tool_call_id", "name"},
}
TOOL_CALL_FIELDS = {"id", "type", "function", "index"}
# ChatCompletionRequestToolChoice = Union[ToolChoice, ToolChoiceEnum]:
# models/toolchoiceenum.py is "auto" | "none" | "any" | "required"; models/toolchoice.py is
# the one object, {"type": "function", "function": {"name": ...}} (models/functionname.py).
# Any other object (Anthropic's {"type": "tool", "name": ...} or {"type": "any"}, OpenAI
# Responses' {"type": "function", "name": ...}) matches neither member.
TOOL_CHOICES = ("auto", "none", "any", "required")
# mistral_common (protocol/instruct/validator.py, _TOOL_CALL_ID_REGEX) and the API's own 400
# (langchain-ai/langchain#24668, HKUDS/nanobot#1293, openclaw/openclaw#23740): 9 alphanumerics.
_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")


def _problem(kind: str, loc: list[Any], msg: str, value: Any) -> dict[str, Any]:
    """One entry of a 422's `detail` list: mistralai/client/models/validationerror.py
    (loc, msg, type, input; pydantic's own error types)."""
    return {"type": kind, "loc": ["body", *loc], "msg": msg, "input": value}


def validation_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What the API's request validation refuses with 422 (the schema, extra fields
    forbidden at every level, assistant content xor tool_calls); empty: nothing."""
    problems = [
        _problem("extra_forbidden", [k], "Extra inputs are not permitted", body[k])
        for k in sorted(set(body) - FIELDS)
    ]
    for index, message in enumerate(body.get("messages") or []):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in MESSAGE_FIELDS:
            problems.append(
                _problem(
                    "union_tag_invalid",
                    ["messages", index],
                    f"Input tag '{role}' found using 'role' does not match any of the"
                    " expected tags: 'assistant', 'system', 'tool', 'user'",
                    message,
                )
            )
            continue
        # Extra fields in a message: e.g. ["body", "messages", 3, "assistant",
        # "reasoning_content"] (charmbracelet/crush#1590), a user's `name`
        # (Gage-Technologies/mistral-go#2).
        problems += [
            _problem(
                "extra_forbidden",
                ["messages", index, role, k],
                "Extra inputs are not permitted",
                message[k],
            )
            for k in sorted(set(message) - MESSAGE_FIELDS[role])
        ]
        if role != "assistant":
            continue
        calls = message.get("tool_calls") or []
        for number, call in enumerate(calls):
            extra = sorted(set(call) - TOOL_CALL_FIELDS) if isinstance(call, dict) else []
            problems += [
                _problem(
                    "extra_forbidden",
                    ["messages", index, role, "tool_calls", number, k],
                    "Extra inputs are not permitted",
                    call[k],
                )
                for k in extra
            ]
        # The spec's AssistantMessage allows both fields; the API does not: "Assistant message
        # must have either content or tool_calls, but not both." (mistral_common
        # protocol/instruct/validator.py, _validate_assistant_message). Once a 400
        # (langchain-ai/langchain#21196), now a 422 (github/copilot-cli#4884: `"content": ""`
        # with tool calls passes, a sentence with them does not). Neither is refused too
        # ("... but not none.", OpenHands/OpenHands#8685).
        has_content, has_calls = bool(message.get("content")), bool(calls)
        if has_content == has_calls and not message.get("prefix"):
            which = "both" if has_content else "none"
            problems.append(
                _problem(
                    "value_error",
                    ["messages", index, role],
                    "Value error, Assistant message must have either content or tool_calls,"
                    f" but not {which}.",
                    message,
                )
            )
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice not in TOOL_CHOICES:
        problems.append(
            _problem(
                "enum",
                ["tool_choice", "ToolChoiceEnum"],
                "Input should be 'auto', 'none', 'any' or 'required'",
                choice,
            )
        )
    elif isinstance(choice, dict):
        function = choice.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            problems.append(
                _problem(
                    "missing", ["tool_choice", "ToolChoice", "function"], "Field required", choice
                )
            )
        if choice.get("type", "function") != "function":
            problems.append(
                _problem(
                    "literal_error",
                    ["tool_choice", "ToolChoice", "type"],
                    "Input should be 'function'",
                    choice.get("type"),
                )
            )
        problems += [
            _problem(
                "extra_forbidden",
                ["tool_choice", "ToolChoice", k],
                "Extra inputs are not permitted",
                choice[k],
            )
            for k in sorted(set(choice) - {"type", "function"})
        ]
    elif choice is not None and not isinstance(choice, str):
        problems.append(
            _problem("model_type", ["tool_choice"], "Input should be an object or a string", choice)
        )
    return problems


def bad_tool_id(messages: list[dict[str, Any]]) -> str | None:
    """The first tool-call id (an assistant's call or a tool result's) the API refuses."""
    for message in messages:
        ids = [str(c.get("id", "")) for c in message.get("tool_calls") or []]
        if message.get("role") == "tool":
            ids.append(str(message.get("tool_call_id", "")))
        for ident in ids:
            if not _MISTRAL_ID.fullmatch(ident):
                return ident
    return None


def invalid_request(message: str) -> dict[str, Any]:
    """The API's 400 body (every public capture has these five keys)."""
    return {
        "object": "error",
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def count_tokens(value: Any) -> int:
    """A stand-in's token count: word-sized pieces of every string in VALUE (not tekken)."""
    if isinstance(value, str):
        return len(canned.tokenize(value))
    if isinstance(value, dict):
        return sum(count_tokens(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_tokens(v) for v in value)
    return 0


def prompt_tokens(body: dict[str, Any]) -> int:
    """The request's prompt in the stand-in's tokens (messages and tools)."""
    return max(1, count_tokens(body.get("messages") or []) + count_tokens(body.get("tools") or []))


def refusal(
    body: dict[str, Any], models: list[str], max_context: int
) -> tuple[int, dict[str, Any], str] | None:
    """How the API refuses BODY (status, error body, which rule), in the order it checks:
    the request's validation, the model, mistral_common's tool-call ids, the context length.
    None: it answers."""
    problems = validation_errors(body)
    if problems:
        # The 422 body: mistralai/client/errors/httpvalidationerror.py,
        # HTTPValidationErrorData(detail: List[ValidationError]), which the client parses for
        # every 422 (mistralai/client/chat.py). Captured so, a top-level `detail`, in
        # Gitlawb/openclaude#739 (extra_forbidden on `store`, `max_completion_tokens`).
        return 422, {"detail": problems}, problems[0]["type"]
    if body.get("model") not in models:
        return (
            400,
            {
                "object": "error",
                "type": "invalid_model",
                "message": f"Invalid model: {body.get('model')}",
                "code": "1500",
            },
            "model",
        )
    ident = bad_tool_id(body.get("messages") or [])
    if ident is not None:
        # mistral_common's InvalidFunctionCallException / InvalidToolMessageException, a 400
        # with the API's plain error body in every public capture (not a 422).
        message = f"Tool call id was {ident} but must be a-z, A-Z, 0-9, with a length of 9."
        return 400, invalid_request(message), "tool_call_id"
    prompt, budget = prompt_tokens(body), body.get("max_tokens") or 0
    # models/chatcompletionrequest.py, max_tokens: "The token count of your prompt plus
    # `max_tokens` cannot exceed the model's context length." A 400 invalid_request_error;
    # the wording is this stand-in's own (no public capture of the real one was found).
    if prompt + budget > max_context:
        message = (
            f"Prompt contains {prompt} tokens and max_tokens is {budget}: too large for"
            f" model with {max_context} maximum context length"
        )
        return 400, invalid_request(message), "context_length"
    return None


def make_handler(args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *a: Any) -> None:
            sys.stderr.write("mistral-standin: " + fmt % a + "\n")

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization", "") == f"Bearer {args.api_key}":
                return True
            self._json(401, {"message": "Unauthorized", "request_id": uuid.uuid4().hex})
            return False

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                return self._json(404, {"detail": "Not Found"})
            if self._authorized():
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {"id": m, "object": "model", "owned_by": "mistralai"}
                            for m in args.model
                        ],
                    },
                )

        def do_POST(self) -> None:
            if self.path.split("?")[0].rstrip("/") != "/v1/chat/completions":
                return self._json(404, {"detail": "Not Found"})
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self._authorized():
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                return self._json(400, invalid_request("Invalid JSON body"))
            if not isinstance(body, dict):
                return self._json(400, invalid_request("Invalid JSON body"))
            refused = refusal(body, args.model, args.max_context)
            if args.request_log:
                with open(args.request_log, "a", encoding="utf-8") as log:
                    log.write(
                        json.dumps(
                            {
                                "path": self.path,
                                "model": body.get("model"),
                                "stream": bool(body.get("stream")),
                                "fields": sorted(body),
                                "status": refused[0] if refused else 200,
                                "refused": refused[2] if refused else None,
                                "body": body if args.log_bodies and length < 1 << 20 else None,
                            }
                        )
                        + "\n"
                    )
            if refused:
                return self._json(refused[0], refused[1])
            self._chat(body, prompt_tokens(body))

        def _chat(self, body: dict[str, Any], prompt: int) -> None:
            messages = body.get("messages") or []
            conversation = canned.from_openai(messages, body.get("tools") or [])
            choice = body.get("tool_choice") or "auto"
            # Mistral's "any" is OpenAI's "required" (the canned model speaks OpenAI).
            choice = "required" if choice == "any" else choice
            turn = canned.respond(conversation, choice, True)
            text = "".join(s.text for s in turn).replace("vLLM stand-in", "Mistral API stand-in")
            calls = [
                {
                    "id": canned.new_tool_id(),
                    "type": "function",
                    "function": {"name": s.tool, "arguments": json.dumps(s.args)},
                }
                for s in turn
                if s.tool
            ]
            if body.get("parallel_tool_calls") is False:
                calls = calls[:1]  # the spec's parallel_tool_calls (chatcompletionrequest.py)
            stops = body.get("stop") or []
            stops = [stops] if isinstance(stops, str) else stops
            hits = [text.find(s) for s in stops if s and s in text]
            if hits:
                # `stop` ends the generation where the sequence starts (not returned), so
                # no call is written after it.
                text, calls = text[: min(hits)], []
            pieces = canned.tokenize(text)
            used = len(pieces) + count_tokens([c["function"] for c in calls])
            finish = "tool_calls" if calls else "stop"
            budget = body.get("max_tokens")
            if isinstance(budget, int) and used > budget:
                # Cut off: the text up to the budget and no (half) tool call.
                pieces, calls, finish = pieces[:budget], [], "length"
                text, used = "".join(pieces), min(used, budget)
            ident, created = uuid.uuid4().hex, int(time.time())
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": max(1, used),
                "total_tokens": prompt + max(1, used),
            }
            if not body.get("stream"):
                message: dict[str, Any] = {
                    "role": "assistant",
                    "content": text,
                    "tool_calls": calls or None,
                }
                return self._json(
                    200,
                    {
                        "id": ident,
                        "object": "chat.completion",
                        "created": created,
                        "model": body["model"],
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": usage,
                    },
                )
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()

            def send(delta: dict[str, Any], reason: str | None = None, **more: Any) -> None:
                chunk = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
                    **more,
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())

            send({"role": "assistant", "content": ""})
            for piece in pieces:
                send({"content": piece})
            if calls:
                # Mistral sends each call whole, in one delta; each with its `index`
                # (models/toolcall.py: ToolCall.index), which clients assemble calls by.
                send({"tool_calls": [{**c, "index": i} for i, c in enumerate(calls)]})
            send({"content": ""}, finish, usage=usage)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--api-key", required=True, help="The one key accepted (Bearer).")
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help="Model id served (repeatable). Default: devstral-medium-latest.",
    )
    parser.add_argument("--request-log", help="Append one JSON line per chat request here.")
    parser.add_argument(
        "--log-bodies", action="store_true", help="Also log each request's body (--request-log)."
    )
    parser.add_argument(
        "--max-context",
        type=int,
        default=131072,
        help="Context length in the stand-in's tokens (prompt + max_tokens). Default: 131072.",
    )
    args = parser.parse_args()
    args.model = args.model or ["devstral-medium-latest"]
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args))
    server.daemon_threads = True
    print(
        f"mistral-standin: serving {args.model} on http://{args.host}:{args.port}/v1",
        file=sys.stderr,
        flush=True,
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
