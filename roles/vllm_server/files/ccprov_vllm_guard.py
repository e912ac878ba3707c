"""vLLM's API key on every path (installed by the vllm_server role; `--middleware
ccprov_vllm_guard.KeyGuard`).

vLLM 0.33.0's own check (vllm/entrypoints/serve/middleware/authenticate.py,
AuthenticationMiddleware) guards only paths under /v1, /v2, /inference and /cohere: anyone
who reaches the port runs the model through /invocations, /tokenize, /generative_scoring,
or rescales it through /scale_elastic_ep, without the key, past the gateway's keys, limits
and usage log. This middleware denies by default: every HTTP request and websocket needs
`Authorization: Bearer <VLLM_API_KEY>`, except GET/HEAD of the exact paths in OPEN (the
role's health gate and `ccprov status` read /health; the gateway's nginx and `ccprov
status` read /metrics without a key).

vLLM adds a class given to --middleware with `app.add_middleware(cls)` and no arguments
(vllm/entrypoints/serve/middleware/register.py, init_entrypoints_middleware), so the key
is read here from the environment variable vLLM itself reads (vllm/envs.py VLLM_API_KEY;
the role writes it to the unit's private environment file). Without a key vLLM serves
without auth, and so does this (the role's preflight allows that only on loopback or with
vllm_server_allow_unauthenticated).

Draining (issue #29): while the file CCPROV_VLLM_DRAIN_FILE names exists (the role creates it
in the unit's RuntimeDirectory before a restart, so a restart always clears it), every
request but GET/HEAD /metrics gets 503 with `Connection: close`, /health included. LiteLLM
counts a 5xx as a failure: with the gateway's allowed_fails 0 it puts this host in cooldown
and retries the request on another (router.py), so new turns leave a draining host while
its streams in flight finish.

Standard library only: it runs in vLLM's venv and in the test stand-in alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Exact route paths (no prefixes, no trailing slash) answered without the key, and how.
OPEN = {"/health": frozenset({"GET", "HEAD"}), "/metrics": frozenset({"GET", "HEAD"})}
KEY_ENV = "VLLM_API_KEY"
_DENIED = json.dumps({"error": "Unauthorized"}).encode()  # vLLM's own 401 body
DRAIN_ENV = "CCPROV_VLLM_DRAIN_FILE"
DRAIN_OPEN = {"/metrics": frozenset({"GET", "HEAD"})}  # the role watches the drain there
# vLLM's ErrorResponse shape (entrypoints/openai/engine/protocol.py): error.message/type/code.
_DRAINING = json.dumps(
    {
        "error": {
            "message": "this vLLM host is draining for a restart; retry on another host",
            "type": "ServiceUnavailableError",
            "param": None,
            "code": 503,
        }
    }
).encode()


def route_path(scope: Scope) -> str:
    """The path the router matches, as Starlette computes it (starlette/_utils.py
    get_route_path, Starlette 1.10): the decoded path without the root path."""
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        if path == root:
            return ""
        if path[len(root)] == "/":
            return path[len(root) :]
    return path


class KeyGuard:
    """Pure ASGI middleware: 401 unless the request carries the key or is an open path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        key = os.environ.get(KEY_ENV, "")
        # Digests: compare_digest then takes as long for a wrong key of any length.
        self._digest = hashlib.sha256(key.encode()).digest() if key else None
        if self._digest is None:
            print(
                f"ccprov_vllm_guard: {KEY_ENV} is not set, serving without a key", file=sys.stderr
            )
        self._drain_file = os.environ.get(DRAIN_ENV, "")

    def draining(self, scope: Scope) -> bool:
        """The drain file exists and this is not a read of the metrics."""
        if not self._drain_file or not os.path.exists(self._drain_file):
            return False
        return scope.get("method", "") not in DRAIN_OPEN.get(route_path(scope), ())

    def authorized(self, scope: Scope) -> bool:
        if self._digest is None:
            return True
        values = [v for k, v in scope.get("headers") or () if k.lower() == b"authorization"]
        if len(values) != 1:  # none, or ambiguous
            return False
        scheme, _, token = bytes(values[0]).partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        given = hashlib.sha256(token).digest()
        return hmac.compare_digest(given, self._digest)

    def is_open(self, scope: Scope) -> bool:
        return scope["type"] == "http" and scope.get("method", "") in OPEN.get(
            route_path(scope), ()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # lifespan (start and shutdown) carries no request; http and websocket do.
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if self.draining(scope):
            return await self._refuse(scope, send, 503, _DRAINING, b"30")
        if self.is_open(scope):
            return await self.app(scope, receive, send)
        if self.authorized(scope):
            return await self.app(scope, receive, send)
        await self._refuse(scope, send, 401, _DENIED)

    async def _refuse(
        self, scope: Scope, send: Send, status: int, body: bytes, retry_after: bytes = b""
    ) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
        ]
        if retry_after:
            # Close the client's pooled connection too: its next request opens a new one.
            headers += [(b"retry-after", retry_after), (b"connection", b"close")]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            # The ASGI websocket denial response: a plain HTTP answer before the handshake.
            start = {"type": "websocket.http.response.start", "status": status, "headers": headers}
            await send(start)
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            # Closing before accepting refuses the handshake (the server answers 403).
            await send({"type": "websocket.close", "code": 1008})
