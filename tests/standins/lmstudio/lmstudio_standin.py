#!/usr/bin/env python3
"""Stand-in for LM Studio's server, for ccprov's tests only (LM Studio is a desktop app
with a closed-source server: nothing of it runs here).

It keeps what LM Studio's docs and public logs say, each cited where it is done:
- POST /v1/messages, Anthropic-compatible, its one Anthropic route (lmstudio-ai/docs
  1_developer/4_anthropic-compat/index.md); no key needed unless "Require Authentication"
  is on (same page), so any key passes here;
- GET /v1/models (OpenAI list) and GET /api/v1/models, LM Studio's own list with each
  model's max_context_length and the context_length of its loaded instances
  (1_developer/2_rest/list.md);
- any other route or method, /v1/messages/count_tokens included, answers **200** with
  {"error": "Unexpected endpoint or method. (METHOD PATH)"} (lmstudio-bug-tracker#618:
  the body and status; #2055: count_tokens from Claude Code; #1323: the query is kept);
- a prompt over the loaded context is refused with 400 and LM Studio's words
  (Gitlawb/openclaude#353, on its OpenAI route; the Anthropic route's envelope is not
  documented: kept the same).
Replies come from the vLLM stand-in's canned model; event shapes are Anthropic's own (the
docs promise compatibility and say nothing finer). Tokens are the canned word pieces.

    python3 lmstudio_standin.py --port 1234 [--model devstral] [--context-length 4096]
        [--max-context-length 131072] [--not-loaded] [--request-log FILE]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "vllm" / "src"))
from vllm import model as canned


def _text(content: Any) -> str:
    """The text of a message's content (a tool result's own content included)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict):
            inner = block.get("content") if block.get("type") == "tool_result" else None
            parts.append(_text(inner) if inner is not None else str(block.get("text") or ""))
    return "".join(parts)


def _role(message: dict[str, Any]) -> str:
    """A user turn made of tool results is the canned model's "tool" turn."""
    content = message.get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return "tool"
    return str(message.get("role"))


def prompt_tokens(req: dict[str, Any]) -> int:
    parts = [_text(req.get("system")), json.dumps(req.get("tools") or [])]
    parts += [_text(m.get("content")) for m in req.get("messages") or []]
    return len(canned.tokenize("".join(parts)))


def make_handler(args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _log(self, entry: dict[str, Any]) -> None:
            """Written before the answer: a client that has the answer finds its entry."""
            if args.request_log:
                with open(args.request_log, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"method": self.command, "path": self.path, **entry}))
                    log.write("\n")

        def _reply(self, status: int, data: Any, ctype: str = "application/json") -> None:
            body = json.dumps(data).encode()
            self._log({"status": status, "body": data})
            self.send_response(status)
            self.send_header("Content-Type", f"{ctype}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _unexpected(self) -> None:
            """Express's catch-all in LM Studio: 200 with an error (lmstudio-bug-tracker#618)."""
            self._reply(
                200, {"error": f"Unexpected endpoint or method. ({self.command} {self.path})"}
            )

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/v1/models":
                self._reply(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {"id": args.model, "object": "model", "owned_by": "organization_owner"}
                        ],
                    },
                )
            elif path == "/api/v1/models":
                loaded = (
                    []
                    if args.not_loaded
                    else [{"id": args.model, "config": {"context_length": args.context_length}}]
                )
                self._reply(
                    200,
                    {
                        "models": [
                            {
                                "type": "llm",
                                "publisher": "mistralai",
                                "key": args.model,
                                "display_name": "Devstral",
                                "architecture": "mistral",
                                "loaded_instances": loaded,
                                "max_context_length": args.max_context_length,
                                "format": "gguf",
                                "capabilities": {"vision": False, "trained_for_tool_use": True},
                            }
                        ]
                    },
                )
            else:
                self._unexpected()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.split("?", 1)[0] != "/v1/messages":
                return self._unexpected()
            req = json.loads(raw)
            used = prompt_tokens(req)
            # Just-in-time loading uses the default load config (docs: 0_core/ttl-and-auto-evict).
            args.not_loaded = False
            window = args.context_length
            if used >= window:
                return self._reply(
                    400,
                    {
                        "error": (
                            "The number of tokens to keep from the initial prompt is greater"
                            f" than the context length (n_keep: {used}>= n_ctx: {window})."
                            " Try to load the model with a larger context length, or provide"
                            " a shorter input."
                        )
                    },
                )
            messages = [
                {"role": _role(m), "content": _text(m.get("content"))}
                for m in req.get("messages") or []
            ]
            tools = [
                {"function": {"name": t.get("name"), "parameters": t.get("input_schema")}}
                for t in req.get("tools") or []
            ]
            turn = canned.respond(canned.from_openai(messages, tools), "auto", True)
            content: list[dict[str, Any]] = []
            for segment in turn:
                if segment.tool:
                    content.append(
                        {
                            "type": "tool_use",
                            "id": "toolu_" + secrets.token_hex(12),
                            "name": segment.tool,
                            "input": segment.args,
                        }
                    )
                else:
                    content.append({"type": "text", "text": segment.text})
            stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
            message = {
                "id": "msg_" + secrets.token_hex(12),
                "type": "message",
                "role": "assistant",
                "model": req.get("model"),
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": used, "output_tokens": 1},
            }
            if not req.get("stream"):
                return self._reply(200, message)
            self._stream(message)

        def _stream(self, message: dict[str, Any]) -> None:
            """Anthropic's streaming events for MESSAGE."""
            frames = [
                (
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {**message, "content": [], "stop_reason": None},
                    },
                )
            ]
            for index, block in enumerate(message["content"]):
                if block["type"] == "text":
                    start, delta = (
                        {"type": "text", "text": ""},
                        {"type": "text_delta", "text": block["text"]},
                    )
                else:
                    start = {**block, "input": {}}
                    delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                frames += [
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": start},
                    ),
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    ),
                    ("content_block_stop", {"type": "content_block_stop", "index": index}),
                ]
            frames += [
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                        "usage": {"output_tokens": 1},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
            body = "".join(f"event: {k}\ndata: {json.dumps(d)}\n\n" for k, d in frames).encode()
            self._log({"status": 200, "stream": True})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1234)
    parser.add_argument("--model", default="devstral")
    parser.add_argument("--context-length", type=int, default=4096, help="of the loaded model")
    parser.add_argument("--max-context-length", type=int, default=131072)
    parser.add_argument("--not-loaded", action="store_true", help="no instance loaded yet")
    parser.add_argument("--request-log", type=Path)
    args = parser.parse_args()
    ThreadingHTTPServer((args.host, args.port), make_handler(args)).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
