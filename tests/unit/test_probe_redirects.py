"""The probes (`ccprov status`, the live check after `ccprov workstation`, the host status
probe) never follow a redirect with the key, and a 200 without text is not a success."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ccprov.probes import status_probe
from ccprov.workstation import envfile, probe, status

KEY = "sk-ccprov-probe-test-0123456789abcdef"


class Recorder:
    """A local server on another port that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []


def _serve(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            answer(self)

        do_GET = do_POST = _any

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, Recorder]]:
    """Where the redirect points: records whether a key arrived."""
    recorder = Recorder()

    def answer(handler: BaseHTTPRequestHandler) -> None:
        recorder.requests.append({k.lower(): v for k, v in handler.headers.items()})
        body = json.dumps({"content": [{"type": "text", "text": "OK"}], "data": []}).encode()
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    for url in _serve(answer):
        yield url, recorder


def redirecting(code: int, target: str) -> Iterator[str]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        handler.send_header("Location", f"{target}{handler.path}")
        handler.send_header("content-length", "0")
        handler.end_headers()

    return _serve(answer)


def answering(payload: object) -> Iterator[str]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps(payload).encode()
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return _serve(answer)


def assert_no_key_sent(recorder: Recorder) -> None:
    for headers in recorder.requests:
        assert "authorization" not in headers and "x-api-key" not in headers
        assert KEY not in json.dumps(headers)
    assert recorder.requests == []


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_the_live_check_does_not_follow_a_redirect(elsewhere, code) -> None:
    target, recorder = elsewhere
    for url in redirecting(code, target):
        result = probe.send_message(url, KEY, "devstral", timeout=5)
    assert not result.ok and result.status == code
    assert f"redirects ({code}) to {target}/v1/messages" in result.detail
    assert "not followed" in result.detail and KEY not in result.detail
    assert_no_key_sent(recorder)


def test_status_does_not_follow_a_redirect(elsewhere) -> None:
    target, recorder = elsewhere
    for url in redirecting(302, target):
        result, models = probe.list_models(url, KEY)
        ok, state = status.describe(envfile.Backend("local", url, KEY, "devstral"))
    assert not result.ok and result.status == 302 and models == []
    assert f"to {target}/v1/models" in result.detail
    assert not ok and f"redirects (302) to {target}/v1/models" in state and KEY not in state
    assert_no_key_sent(recorder)


def test_the_host_status_probe_does_not_follow_a_redirect(elsewhere) -> None:
    target, recorder = elsewhere
    for url in redirecting(302, target):
        port = int(url.rsplit(":", 1)[1])
        health = status_probe._health(port, "/health")
    assert health == f"HTTP 302 (redirects to {target}/health, not followed)"
    assert recorder.requests == []


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "message", "content": [], "stop_reason": "end_turn"},
        {"type": "message", "content": [{"type": "text", "text": ""}]},
        {"type": "message", "content": [{"type": "text", "text": "  \n"}]},
        {"type": "message", "content": [{"type": "thinking", "thinking": "hmm"}]},
        {"type": "message", "content": None},
        {"type": "message"},
    ],
)
def test_a_200_without_text_is_not_a_success(payload) -> None:
    for url in answering(payload):
        result = probe.send_message(url, KEY, "devstral", timeout=5)
    assert not result.ok and result.status == 200
    assert result.detail.startswith("the model answered 200 but with no text")


@pytest.mark.parametrize("payload", [[1, 2], {"content": "OK"}, {"content": [1]}])
def test_a_200_that_is_not_a_messages_answer_is_not_a_success(payload) -> None:
    for url in answering(payload):
        result = probe.send_message(url, KEY, "devstral", timeout=5)
    assert not result.ok and result.detail == "the answer is not an Anthropic Messages response"


def test_a_200_with_text_is_a_success() -> None:
    payload = {"content": [{"type": "thinking", "thinking": "x"}, {"type": "text", "text": "OK"}]}
    for url in answering(payload):
        result = probe.send_message(url, KEY, "devstral", timeout=5)
    assert result.ok and result.detail == "OK"
