"""`--middleware` as vLLM 0.33.0 applies it (entrypoints/serve/middleware/register.py,
init_entrypoints_middleware): each import path names a class, added with
`app.add_middleware(cls)` (no arguments; the last one added is the outermost). The stand-in
has no ASGI app, so every request is first run through those classes as an ASGI http scope
(as uvicorn builds it: the percent-decoded path, the raw path, lower-case header names);
whatever they answer themselves is the response, else the stand-in's own handler runs.
vLLM also takes a coroutine function (`app.middleware("http")`, a Starlette
BaseHTTPMiddleware): the stand-in refuses those at start instead of pretending."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


def load(paths: Iterable[str]) -> list[type]:
    """The classes named, imported at start like vLLM does (an import error stops it)."""
    found = []
    for path in paths:
        module_path, _, name = path.rpartition(".")
        imported = getattr(importlib.import_module(module_path), name)
        if not inspect.isclass(imported):
            raise ValueError(
                f"Invalid middleware {path}. The stand-in takes classes only "
                "(vLLM also takes an http coroutine function)."
            )
        found.append(imported)
    return found


_PASSED = "ccprov.standin.passed"


async def _passed(scope: Any, _receive: Any, _send: Any) -> None:
    # In a dict the scope only refers to, so a middleware that copies the scope still tells.
    scope["extensions"][_PASSED]["passed"] = True


def build(classes: list[type]) -> Any:
    """The ASGI chain, outermost last-added, around a sentinel standing for the app."""
    app: Any = _passed
    for cls in classes:
        app = cls(app)
    return app


def run(
    chain: Any, method: str, target: str, headers: Iterable[tuple[str, str]]
) -> Response | None:
    """Run one request through the chain: None when it reached the app, else the response
    the middleware sent."""
    # uvicorn's split (not urlsplit, which reads `//x` as a host): path ? query.
    raw_path, _, query = target.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "extensions": {_PASSED: {"passed": False}},
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    passed = scope["extensions"][_PASSED]
    asyncio.run(chain(scope, receive, send))
    if passed["passed"]:
        return None
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), list(start.get("headers") or []), body
