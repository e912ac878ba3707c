"""HTTP API of the vLLM stand-in: OpenAI chat completions and Anthropic messages, on CPU.

The "model" is canned (see model.py); everything around it follows vLLM's API: paths,
auth, error shapes, SSE streaming, tool calls and Mistral's 9-character tool-call ids.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from vllm import model as canned


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.requests = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def make_handler(config: dict[str, Any], stats: Stats) -> type[BaseHTTPRequestHandler]:
    served = config["served_names"]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "vllm-standin"
        # Like uvicorn: TCP_NODELAY, so headers and body written apart are not held back
        # by Nagle against the client's delayed ACK (40 ms per request otherwise).
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args: Any) -> None:
            if config["log_requests"]:
                sys.stderr.write(f"INFO: {self.address_string()} {fmt % args}\n")

        # --- plumbing ------------------------------------------------------------------
        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()

        def _chunk(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _end_stream(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _authorized(self) -> bool:
            key = config["api_key"]
            if not key:
                return True
            return self.headers.get("authorization", "") == f"Bearer {key}"

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError as exc:
                raise ApiError(400, f"invalid JSON body: {exc}") from None
            if not isinstance(body, dict):
                raise ApiError(400, "the body must be a JSON object")
            return body

        def _check_model(self, body: dict[str, Any]) -> str:
            name = body.get("model")
            if name not in served and name != config["model"]:
                raise ApiError(404, f"The model `{name}` does not exist.", "NotFoundError")
            return str(name)

        # --- routes ------------------------------------------------------------------------
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/health":
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            if path == "/metrics":
                return self._metrics()
            if path.startswith("/v1") and not self._authorized():
                # Read the body anyway, so the next request on this connection parses.
                self.rfile.read(int(self.headers.get("content-length") or 0))
                return self._json(401, {"error": "Unauthorized"})
            if path == "/v1/models":
                created = int(time.time())
                return self._json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {
                                "id": n,
                                "object": "model",
                                "created": created,
                                "owned_by": "vllm",
                                "root": config["model"],
                                "max_model_len": config["max_model_len"],
                            }
                            for n in served
                        ],
                    },
                )
            if path == "/version":
                from vllm import __version__

                return self._json(200, {"version": __version__})
            self._json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            anthropic = path.startswith("/v1/messages")
            if path.startswith("/v1") and not self._authorized():
                # Read the body anyway, so the next request on this connection parses.
                self.rfile.read(int(self.headers.get("content-length") or 0))
                return self._json(401, {"error": "Unauthorized"})
            try:
                body = self._body()
                dump = os.environ.get("VLLM_STANDIN_DUMP")
                if dump:  # debugging aid: every request body, one JSON per line
                    with open(dump, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps({"path": path, "body": body}) + "\n")
                if path == "/v1/chat/completions":
                    return self._chat(body)
                if path == "/v1/messages":
                    return self._messages(body)
                if path == "/v1/messages/count_tokens":
                    self._check_model(body)
                    text = json.dumps(body.get("messages", [])) + json.dumps(body.get("system", ""))
                    return self._json(200, {"input_tokens": _tokens(text)})
                return self._json(404, {"detail": "Not Found"})
            except ApiError as exc:
                if anthropic:
                    kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
                    return self._json(
                        exc.status,
                        {"type": "error", "error": {"type": kind, "message": exc.message}},
                    )
                return self._json(
                    exc.status,
                    {
                        "error": {
                            "message": exc.message,
                            "type": exc.kind,
                            "param": None,
                            "code": exc.status,
                        }
                    },
                )

        def _metrics(self) -> None:
            name = served[0]
            lines = [
                "# HELP vllm:num_requests_running Number of requests in model execution batches.",
                "# TYPE vllm:num_requests_running gauge",
                f'vllm:num_requests_running{{model_name="{name}"}} {stats.running}',
                "# HELP vllm:request_success_total Count of successfully processed requests.",
                "# TYPE vllm:request_success_total counter",
                f'vllm:request_success_total{{model_name="{name}"}} {stats.requests}',
                "# TYPE vllm:prompt_tokens_total counter",
                f'vllm:prompt_tokens_total{{model_name="{name}"}} {stats.prompt_tokens}',
                "# TYPE vllm:generation_tokens_total counter",
                f'vllm:generation_tokens_total{{model_name="{name}"}} {stats.generation_tokens}',
            ]
            data = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain; version=0.0.4")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _account(self, prompt: str, reply: str) -> tuple[int, int]:
            p, c = _tokens(prompt), _tokens(reply)
            with stats.lock:
                stats.requests += 1
                stats.prompt_tokens += p
                stats.generation_tokens += c
            return p, c

        # --- OpenAI chat completions -------------------------------------------------------
        def _chat(self, body: dict[str, Any]) -> None:
            model_name = self._check_model(body)
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise ApiError(400, "messages must be a non-empty list")
            conversation = canned.from_openai(messages, body.get("tools") or [])
            self._validate_ids(conversation.tool_ids)
            turn = canned.respond(conversation)
            tool_calls = []
            if turn.tool:
                tool_calls = [
                    {
                        "id": canned.new_tool_id(),
                        "type": "function",
                        "function": {"name": turn.tool, "arguments": json.dumps(turn.args)},
                    }
                ]
            prompt_tokens, completion_tokens = self._account(
                json.dumps(messages), turn.text + json.dumps(turn.args)
            )
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            ident = f"chatcmpl-{uuid.uuid4().hex}"
            created = int(time.time())
            finish = "tool_calls" if tool_calls else "stop"
            if not body.get("stream"):
                message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
                if tool_calls:
                    message["tool_calls"] = tool_calls
                return self._json(
                    200,
                    {
                        "id": ident,
                        "object": "chat.completion",
                        "created": created,
                        "model": model_name,
                        "usage": usage,
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    },
                )
            self._start_stream()

            def send(delta: dict[str, Any], finish_reason: str | None = None) -> None:
                chunk = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model_name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                }
                self._chunk(f"data: {json.dumps(chunk)}\n\n")

            send({"role": "assistant", "content": ""})
            for piece in canned.pieces(turn.text):
                send({"content": piece})
            for index, call in enumerate(tool_calls):
                send(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                )
                send(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "function": {"arguments": call["function"]["arguments"]},
                            }
                        ]
                    }
                )
            send({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                self._chunk(
                    "data: "
                    + json.dumps(
                        {
                            "id": ident,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model_name,
                            "choices": [],
                            "usage": usage,
                        }
                    )
                    + "\n\n"
                )
            self._chunk("data: [DONE]\n\n")
            self._end_stream()

        def _validate_ids(self, ids: list[str]) -> None:
            if not config["mistral_ids"]:
                return
            for tool_id in ids:
                if not canned.valid_mistral_id(tool_id):
                    raise ApiError(
                        400,
                        f"Tool call id was {tool_id} but must be a-z, A-Z, 0-9, "
                        "with a length of 9.",
                    )

        # --- Anthropic messages ------------------------------------------------------------
        def _messages(self, body: dict[str, Any]) -> None:
            model_name = self._check_model(body)
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise ApiError(400, "messages: field required")
            if not isinstance(body.get("max_tokens"), int):
                raise ApiError(400, "max_tokens: field required")
            conversation = canned.from_anthropic(messages, body.get("tools") or [])
            self._validate_ids(conversation.tool_ids)
            turn = canned.respond(conversation)
            prompt_tokens, output_tokens = self._account(json.dumps(messages), turn.text)
            ident = f"msg_{uuid.uuid4().hex[:24]}"
            content: list[dict[str, Any]] = []
            if turn.text:
                content.append({"type": "text", "text": turn.text})
            if turn.tool:
                content.append(
                    {
                        "type": "tool_use",
                        "id": canned.new_tool_id(),
                        "name": turn.tool,
                        "input": turn.args,
                    }
                )
            stop = "tool_use" if turn.tool else "end_turn"
            usage = {"input_tokens": prompt_tokens, "output_tokens": output_tokens}
            if not body.get("stream"):
                return self._json(
                    200,
                    {
                        "id": ident,
                        "type": "message",
                        "role": "assistant",
                        "model": model_name,
                        "content": content,
                        "stop_reason": stop,
                        "stop_sequence": None,
                        "usage": usage,
                    },
                )
            self._start_stream()

            def event(name: str, data: dict[str, Any]) -> None:
                self._chunk(f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n")

            event(
                "message_start",
                {
                    "message": {
                        "id": ident,
                        "type": "message",
                        "role": "assistant",
                        "model": model_name,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": prompt_tokens, "output_tokens": 0},
                    }
                },
            )
            for index, block in enumerate(content):
                if block["type"] == "text":
                    event(
                        "content_block_start",
                        {"index": index, "content_block": {"type": "text", "text": ""}},
                    )
                    for piece in canned.pieces(block["text"]):
                        event(
                            "content_block_delta",
                            {"index": index, "delta": {"type": "text_delta", "text": piece}},
                        )
                else:
                    event(
                        "content_block_start",
                        {
                            "index": index,
                            "content_block": {
                                "type": "tool_use",
                                "id": block["id"],
                                "name": block["name"],
                                "input": {},
                            },
                        },
                    )
                    event(
                        "content_block_delta",
                        {
                            "index": index,
                            "delta": {
                                "type": "input_json_delta",
                                "partial_json": json.dumps(block["input"]),
                            },
                        },
                    )
                event("content_block_stop", {"index": index})
            event(
                "message_delta",
                {
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            )
            event("message_stop", {})
            self._end_stream()

        def handle_one_request(self) -> None:
            with stats.lock:
                stats.running += 1
            try:
                super().handle_one_request()
            finally:
                with stats.lock:
                    stats.running -= 1

    return Handler


def serve(
    *,
    host: str,
    port: int,
    model: str,
    served_names: list[str],
    api_key: str | None,
    mistral_ids: bool,
    tools_enabled: bool,
    max_model_len: int,
    log_requests: bool,
) -> None:
    config = {
        "model": model,
        "served_names": served_names,
        "api_key": api_key,
        "mistral_ids": mistral_ids,
        "tools_enabled": tools_enabled,
        "max_model_len": max_model_len,
        "log_requests": log_requests,
    }
    # vLLM (uvicorn) accepts bursts of connections; http.server's backlog of 5 would not.
    ThreadingHTTPServer.request_queue_size = 256
    httpd = ThreadingHTTPServer((host, port), make_handler(config, Stats()))
    httpd.daemon_threads = True

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(
        f"INFO: vLLM stand-in serving {model} as {', '.join(served_names)} on http://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
