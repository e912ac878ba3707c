#!/usr/bin/env python3
"""Stand-in for the Mistral API (https://api.mistral.ai/v1), for ccprov's tests only.

The real API needs the internet and a paid key, so the `vibe` route's tests point the
workstation's loopback LiteLLM proxy at this. It honours the parts of the real interface
LiteLLM's `mistral/` provider uses: `POST /v1/chat/completions` (streaming as SSE ending
in `data: [DONE]`, tool calls with Mistral's 9-character ids), `GET /v1/models`, Bearer
keys (401 `{"message": "Unauthorized"}` otherwise), and the API's strictness: an unknown
request field is a 422 `extra_forbidden`, an unknown model a 400 `invalid_model`.
Replies come from the vLLM stand-in's canned model (`Say X` -> `X`).

    python3 mistral_api_standin.py --port 8100 --api-key KEY [--model devstral-medium-latest]
        [--request-log FILE]   # one JSON line per request (path, model, stream, fields)
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

# The Mistral API refuses tool-call ids that are not 9 alphanumerics.
_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")


def _tool_ids(messages: list[dict[str, Any]]) -> list[str]:
    """Every tool-call id in a conversation: the assistant's calls and the results' ids."""
    ids = [str(m.get("tool_call_id", "")) for m in messages if m.get("role") == "tool"]
    for message in messages:
        ids += [str(c.get("id", "")) for c in message.get("tool_calls") or []]
    return ids


# Top-level fields of Mistral's chat completion request; anything else is refused.
FIELDS = {
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "prediction",
    "parallel_tool_calls",
    "safe_prompt",
    "prompt_mode",
    "metadata",
    "stream_options",
}


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
                return self._json(400, {"object": "error", "message": "Invalid JSON body"})
            if args.request_log:
                with open(args.request_log, "a", encoding="utf-8") as log:
                    log.write(
                        json.dumps(
                            {
                                "path": self.path,
                                "model": body.get("model"),
                                "stream": bool(body.get("stream")),
                                "fields": sorted(body),
                            }
                        )
                        + "\n"
                    )
            extra = sorted(set(body) - FIELDS)
            if extra:
                return self._json(
                    422,
                    {
                        "object": "error",
                        "type": "invalid_request_error",
                        "message": {
                            "detail": [
                                {
                                    "type": "extra_forbidden",
                                    "loc": ["body", k],
                                    "msg": "Extra inputs are not permitted",
                                }
                                for k in extra
                            ]
                        },
                    },
                )
            if body.get("model") not in args.model:
                return self._json(
                    400,
                    {
                        "object": "error",
                        "type": "invalid_model",
                        "message": f"Invalid model: {body.get('model')}",
                        "code": "1500",
                    },
                )
            self._chat(body)

        def _chat(self, body: dict[str, Any]) -> None:
            messages = body.get("messages") or []
            conversation = canned.from_openai(messages, body.get("tools") or [])
            if not all(_MISTRAL_ID.fullmatch(i) for i in _tool_ids(messages)):
                return self._json(
                    400,
                    {
                        "object": "error",
                        "type": "invalid_request_error",
                        "message": "Tool call id has to be 9 alphanumerics",
                    },
                )
            turn = canned.respond(conversation, body.get("tool_choice") or "auto", True)
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
            ident, created = uuid.uuid4().hex, int(time.time())
            usage = {
                "prompt_tokens": 10,
                "completion_tokens": max(1, len(text) // 4),
                "total_tokens": 10 + max(1, len(text) // 4),
            }
            finish = "tool_calls" if calls else "stop"
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
            for piece in canned.tokenize(text):
                send({"content": piece})
            if calls:
                send({"tool_calls": calls})  # Mistral sends each call whole, in one delta
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
