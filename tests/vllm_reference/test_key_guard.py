"""vLLM's key on every path (issue #28), on vLLM's own app as the role starts it: the role's
command line carries `--middleware ccprov_vllm_guard.KeyGuard` (roles/vllm_server/files),
and only GET /health and /metrics answer without the key. Without the guard, vLLM 0.33.0
serves /invocations (the model), /tokenize, /scale_elastic_ep, /docs... to anyone."""

from __future__ import annotations

from pathlib import Path

from tests.support import vllm_reference
from tests.support.standin import free_port
from tests.vllm_reference import key_sweep
from tests.vllm_reference.conftest import REFERENCE_KEY


def real_routes(workdir: Path) -> dict[str, set[str]]:
    routes = key_sweep.routes_from_log(workdir / "reference.log")
    # The log's format is vLLM's: if it changes, say so instead of sweeping nothing.
    assert {"/v1/chat/completions", "/invocations", "/tokenize", "/health", "/metrics"} <= set(
        routes
    ), routes
    return routes


def test_every_real_route_needs_the_key_but_health_and_metrics(
    reference, reference_workdir
) -> None:
    routes = real_routes(reference_workdir)
    sent = key_sweep.requests(routes)
    assert key_sweep.wrong_answers(reference.url, REFERENCE_KEY, sent) == []
    # The open ones serve; the key still opens a path outside /v1.
    for path in ("/health", "/metrics"):
        assert key_sweep.status(reference.url, "GET", path, {}) == 200
    bearer = {"Authorization": f"Bearer {REFERENCE_KEY}"}
    assert key_sweep.status(reference.url, "POST", "/tokenize", bearer) not in (401, 404)


def test_the_standin_on_the_roles_command_line_answers_the_same(
    reference, reference_workdir, tmp_path
) -> None:
    """The stand-in (molecule's vLLM) started with the role's own flags, --middleware
    included, on every route the real vLLM serves: the same 401s."""
    port = free_port()
    args = vllm_reference.role_command_line(tmp_path / "render", port)
    assert "--middleware" in args
    with key_sweep.standin(args, REFERENCE_KEY) as proc:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        sent = key_sweep.requests(real_routes(reference_workdir))
        assert key_sweep.wrong_answers(f"http://127.0.0.1:{port}", REFERENCE_KEY, sent) == []


def test_a_draining_host_turns_requests_away_and_closes(reference, reference_workdir) -> None:
    """Issue #29, on vLLM's own app and uvicorn: while the role's drain file exists, a request
    with the key gets 503 with `Connection: close` (uvicorn then closes the gateway's pooled
    connection) and /health says 503 too; /metrics stays open for the role's drain wait."""
    import http.client
    import json
    from urllib.parse import urlsplit

    flag = reference_workdir / "draining"
    address = urlsplit(reference.url)
    body = json.dumps(
        {"model": "devstral", "max_tokens": 4, "messages": [{"role": "user", "content": "Say OK"}]}
    )
    headers = {"Authorization": f"Bearer {REFERENCE_KEY}", "content-type": "application/json"}

    def ask(method: str, path: str) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        try:
            conn.request(method, path, body if method == "POST" else None, headers)
            response = conn.getresponse()
            text = response.read().decode()
            return response.status, response.getheader("connection") or "", text
        finally:
            conn.close()

    assert ask("POST", "/v1/chat/completions")[0] == 200
    flag.touch()
    try:
        status, connection, text = ask("POST", "/v1/chat/completions")
        assert (status, connection) == (503, "close"), text
        assert "draining" in json.loads(text)["error"]["message"]
        assert ask("GET", "/health")[0] == 503
        assert ask("GET", "/metrics")[0] == 200
    finally:
        flag.unlink()
    assert ask("POST", "/v1/chat/completions")[0] == 200
