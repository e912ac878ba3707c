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
        if scope["type"] not in ("http", "websocket") or self.is_open(scope):
            return await self.app(scope, receive, send)
        if self.authorized(scope):
            return await self.app(scope, receive, send)
        await self._deny(scope, send)

    async def _deny(self, scope: Scope, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(_DENIED)),
        ]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": _DENIED})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            # The ASGI websocket denial response: a plain 401 before the handshake.
            await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": _DENIED})
        else:
            # Closing before accepting refuses the handshake (the server answers 403).
            await send({"type": "websocket.close", "code": 1008})
