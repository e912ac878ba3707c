"""The vLLM stand-in stops as vLLM 0.33.0 does on SIGTERM (issue #29), and its
vllm:num_requests_running gauge counts what vLLM's does, since the vllm_server role's drain
waits on it before a restart.

vLLM 0.33.0, entrypoints/launchers/launcher.py serve_http (handle_shutdown) and
v1/engine/core.py EngineCore._handle_shutdown: `--shutdown-timeout 0` (the default) aborts
the requests in flight; N > 0 lets them finish for up to N seconds, then the process ends.
"""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.standin import free_port, start_standin

KEY = "sk-standin-shutdown-0123456789abcdef"
LONG = "Say " + " ".join(f"word{i}" for i in range(40))


def stream(port: int, out: dict[str, object]) -> None:
    """One streamed chat turn; records what arrived and whether it ended with [DONE]."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = {"model": "devstral", "stream": True, "messages": [{"role": "user", "content": LONG}]}
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            json.dumps(body),
            {"Authorization": f"Bearer {KEY}", "content-type": "application/json"},
        )
        response = conn.getresponse()
        out["status"] = response.status
        text = b""
        while chunk := response.read1(65536):
            text += chunk
        out["text"] = text.decode()
    except (OSError, http.client.HTTPException) as exc:
        out["error"] = repr(exc)
    finally:
        conn.close()


def running(port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    line = next(x for x in text.splitlines() if x.startswith("vllm:num_requests_running{"))
    return float(line.rsplit(" ", 1)[1])


@pytest.fixture
def paced(monkeypatch) -> Iterator[None]:
    # The stand-in has no GPU pace of its own: 50 ms between streamed events.
    monkeypatch.setenv("VLLM_STANDIN_TOKEN_DELAY", "0.05")
    yield


def stop_mid_stream(*flags: str) -> tuple[dict[str, object], float, int | None]:
    port = free_port()
    proc = start_standin(port, KEY, *flags)
    out: dict[str, object] = {}
    reader = threading.Thread(target=stream, args=(port, out))
    reader.start()
    deadline = time.monotonic() + 10
    while running(port) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running(port) == 1  # the stream is in the engine
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    reader.join(30)
    try:
        code = proc.wait(30)
    finally:
        proc.kill()
    return out, time.monotonic() - start, code


def test_shutdown_timeout_lets_streams_in_flight_finish(paced) -> None:
    out, _, code = stop_mid_stream("--shutdown-timeout", "20")
    assert out.get("status") == 200, out
    assert str(out.get("text", "")).rstrip().endswith("data: [DONE]"), out
    assert code is not None


def test_no_shutdown_timeout_aborts_them(paced) -> None:
    out, took, _ = stop_mid_stream()
    assert "data: [DONE]" not in str(out.get("text", "")), out
    assert took < 10


def test_running_counts_requests_not_idle_connections() -> None:
    """A pooled keep-alive connection between requests is idle: vLLM's gauge (requests in
    the engine) is 0 then, so a drain does not wait for the gateway's pool to close."""
    port = free_port()
    proc = start_standin(port, KEY)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = {"model": "devstral", "messages": [{"role": "user", "content": "Say OK"}]}
        conn.request(
            "POST",
            "/v1/chat/completions",
            json.dumps(body),
            {"Authorization": f"Bearer {KEY}", "content-type": "application/json"},
        )
        assert conn.getresponse().read()
        assert running(port) == 0  # the connection above is still open, idle
        conn.close()
    finally:
        proc.kill()
        proc.wait()
