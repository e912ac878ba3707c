"""The vllm_server role's key guard (roles/vllm_server/files/ccprov_vllm_guard.py) as vLLM
runs it: an ASGI class built with the app alone (vllm/entrypoints/serve/middleware/
register.py `app.add_middleware(cls)`), the key from VLLM_API_KEY. Every request needs the
key, except GET/HEAD of exactly /health and /metrics; lifespan passes untouched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import REPO, load_file

KEY = "sk-gpu-0123456789abcdef0123456789abcdef"
GUARD_FILE = REPO / "roles/vllm_server/files/ccprov_vllm_guard.py"


@pytest.fixture
def guard(monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    return load_file("ccprov_vllm_guard", GUARD_FILE)


class App:
    """The app behind the guard: records what reached it, answers 200."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope, receive, send) -> None:
        self.seen.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


def call(guard, scope: dict[str, Any]) -> tuple[App, list[dict[str, Any]]]:
    app = App()
    middleware = guard.KeyGuard(app)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    return app, sent


def http(method: str, path: str, *headers: tuple[bytes, bytes], root_path: str = "") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "headers": list(headers),
    }


def status(guard, scope: dict[str, Any]) -> int:
    app, sent = call(guard, scope)
    starts = [m for m in sent if m["type"].endswith("response.start")]
    assert len(starts) == 1
    if starts[0]["status"] == 401:
        assert app.seen == []  # refused before the app
        body = b"".join(m.get("body", b"") for m in sent if m["type"].endswith("response.body"))
        assert json.loads(body) == {"error": "Unauthorized"}  # vLLM's own 401 body
    return int(starts[0]["status"])


BEARER = (b"authorization", f"Bearer {KEY}".encode())
GUARDED = ["/invocations", "/tokenize", "/scale_elastic_ep", "/docs", "/v1/chat/completions",
           "/version", "/ping", "/load", "/"]  # fmt: skip


@pytest.mark.parametrize("path", GUARDED)
def test_every_path_needs_the_key(guard, path) -> None:
    assert status(guard, http("POST", path)) == 401
    assert status(guard, http("GET", path)) == 401
    wrong = (b"authorization", b"Bearer sk-wrong-0123456789abcdef0123456789ab")
    assert status(guard, http("POST", path, wrong)) == 401
    assert status(guard, http("POST", path, BEARER)) == 200


def test_only_bearer_counts(guard) -> None:
    for headers in (
        [(b"x-api-key", KEY.encode())],
        [(b"authorization", KEY.encode())],
        [(b"authorization", f"Basic {KEY}".encode())],
        [(b"authorization", f"Bearer {KEY} ".encode())],
        [(b"authorization", f"Bearer {KEY[:-1]}".encode())],
        [(b"authorization", b"Bearer ")],
        [BEARER, (b"authorization", b"Bearer other")],  # two: ambiguous
    ):
        assert status(guard, http("POST", "/invocations", *headers)) == 401, headers
    assert (
        status(guard, http("POST", "/invocations", (b"authorization", f"bearer {KEY}".encode())))
        == 200
    )


@pytest.mark.parametrize("path", ["/health", "/metrics"])
def test_health_and_metrics_are_open_for_reading_only(guard, path) -> None:
    assert status(guard, http("GET", path)) == 200
    assert status(guard, http("HEAD", path)) == 200
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        assert status(guard, http(method, path)) == 401


def test_options_needs_the_key(guard) -> None:
    """vLLM's own middleware lets every OPTIONS through; the gateway is no browser."""
    assert status(guard, http("OPTIONS", "/v1/chat/completions")) == 401
    assert status(guard, http("OPTIONS", "/invocations", BEARER)) == 200


@pytest.mark.parametrize(
    "path",
    [
        "//health",
        "/health/",
        "/health/../invocations",
        "/v1/../invocations",
        "/metrics/../tokenize",
        "/metricsx",
        "/metrics/x",
        "/Health",
        "/health%2F..%2Finvocations",  # the ASGI path is already decoded: this stays literal
        "",
    ],
)
def test_exact_paths_only(guard, path) -> None:
    assert status(guard, http("GET", path)) == 401


def test_root_path_is_stripped_as_starlette_routes(guard) -> None:
    """With --root-path /api, Starlette routes /api/health to /health (get_route_path)."""
    assert status(guard, http("GET", "/api/health", root_path="/api")) == 200
    assert status(guard, http("GET", "/apix/health", root_path="/api")) == 401
    assert status(guard, http("GET", "/api/invocations", root_path="/api")) == 401


def test_lifespan_passes(guard) -> None:
    app, sent = call(guard, {"type": "lifespan"})
    assert [s["type"] for s in app.seen] == ["lifespan"] and sent == []


def test_websocket_is_refused_before_the_handshake(guard) -> None:
    scope = {"type": "websocket", "path": "/v1/realtime", "headers": []}
    app, sent = call(guard, scope)
    assert app.seen == [] and sent == [{"type": "websocket.close", "code": 1008}]
    with_denial = {**scope, "extensions": {"websocket.http.response": {}}}
    assert status(guard, with_denial) == 401
    app, _ = call(guard, {**scope, "headers": [BEARER]})
    assert len(app.seen) == 1
    # Open paths are for plain GETs, not websockets.
    assert call(guard, {**scope, "path": "/health"})[0].seen == []


def test_without_a_key_vllm_serves_without_auth(monkeypatch) -> None:
    """As vLLM itself: no VLLM_API_KEY, no check (the role's preflight allows that only on
    loopback or with vllm_server_allow_unauthenticated)."""
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    guard = load_file("ccprov_vllm_guard", GUARD_FILE)
    assert status(guard, http("POST", "/invocations")) == 200


def test_draining_refuses_all_but_metrics_and_closes(monkeypatch, tmp_path) -> None:
    """Issue #29: while the role's drain file exists, every request (with the key, /health
    too) gets 503 and `Connection: close`, so the gateway's LiteLLM cools this host down and
    retries elsewhere; /metrics stays readable (the role watches the drain there). Removing
    the file (a restart clears the unit's RuntimeDirectory) serves again."""
    flag = tmp_path / "draining"
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    monkeypatch.setenv("CCPROV_VLLM_DRAIN_FILE", str(flag))
    guard = load_file("ccprov_vllm_guard", GUARD_FILE)
    assert status(guard, http("POST", "/v1/messages", BEARER)) == 200
    flag.touch()
    for scope in (http("POST", "/v1/messages", BEARER), http("GET", "/health"),
                  http("POST", "/v1/chat/completions")):  # fmt: skip
        app, sent = call(guard, scope)
        assert app.seen == []
        start = sent[0]
        assert start["status"] == 503
        headers = dict(start["headers"])
        assert headers[b"connection"] == b"close" and headers[b"retry-after"] == b"30"
        error = json.loads(sent[1]["body"])["error"]
        assert error["code"] == 503 and "draining" in error["message"]
    assert status(guard, http("GET", "/metrics")) == 200
    flag.unlink()
    assert status(guard, http("GET", "/health")) == 200
