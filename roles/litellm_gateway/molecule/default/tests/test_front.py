"""The gateway as the only door (issue #17): nginx's TLS front serves the client API and
nothing else, to known Host names only; LiteLLM listens on loopback; the gateway's
services reach only their backends. Requests come from the controller, as a developer's
would, with the certificate checked against ccprov's CA (made by prepare.yml)."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

GATEWAY = "10.88.200.10"
# The TLS front's port: the role's default (converge.yml sets none).
PORT = yaml.safe_load((Path(__file__).resolve().parents[3] / "defaults/main.yml").read_text())[
    "litellm_gateway_tls_port"
]
CONTROLLER = "10.88.0.1"  # podman's bridge: the controller as seen from the test host
CA = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ccprov-ca/ca.crt"
ALICE = "sk-ccprov-alice-molecule-0123456789"
MASTER = "sk-master-molecule-0123456789abcdef"
UNKNOWN = "sk-nobody-0123456789abcdef0123456789"
SWEEP = Path(__file__).resolve().parents[5] / "tests/hostbed/route_sweep.py"
CLIENT_API = {
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "POST /v1/chat/completions",
    "GET /v1/models",
}
REFUSED = {401, 403, 404, 405, 421}
# The front's per-address limits (molecule.yml): 5 requests a second, 20 at once.
RATE, BURST = 5, 20
LIMITED = {
    "type": "error",
    "error": {
        "type": "rate_limit_error",
        "message": "Too many requests from this address at the gateway: retry shortly.",
    },
}


def https(
    method: str,
    path: str,
    key: str = ALICE,
    body: object = None,
    host: str | None = None,
    raw: bytes | None = None,
) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection(
        GATEWAY, PORT, timeout=60, context=ssl.create_default_context(cafile=str(CA))
    )
    headers = {
        "Authorization": f"Bearer {key}",
        "anthropic-version": "2023-06-01",
        "Content-Type": "application/json",
    }
    if host:
        headers["Host"] = host
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_only_https_is_open_to_the_network(host) -> None:
    assert host.service("nginx").is_running and host.service("nginx").is_enabled
    assert host.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    assert not host.socket("tcp://0.0.0.0:80").is_listening
    for port in (80, 4000):
        with pytest.raises(OSError):
            socket.create_connection((GATEWAY, port), timeout=5).close()
    # nginx runs unprivileged from the start: no root master process.
    assert host.check_output("ps -o user= -C nginx | sort -u") == "ccprov-nginx"


def test_certificate_is_signed_by_ccprovs_ca_for_the_hosts_names() -> None:
    context = ssl.create_default_context(cafile=str(CA))
    with (
        socket.create_connection((GATEWAY, PORT), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=GATEWAY) as tls,
    ):
        cert = tls.getpeercert()
    # The inventory's names exactly (the controller builds it from them and the key's public
    # half, plugins/module_utils/gateway_ca.py), and the CA itself is constrained to them.
    assert sorted(cert["subjectAltName"]) == [("DNS", "instance"), ("IP Address", GATEWAY)]
    assert cert["subject"] == ((("commonName", "instance"),),)
    # Without the CA the client refuses it (it is not a public certificate).
    with (
        socket.create_connection((GATEWAY, PORT), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname=GATEWAY)


def test_messages_over_https_with_a_developer_key() -> None:
    status, body = https(
        "POST",
        "/v1/messages?beta=true",
        body={
            "model": "devstral",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "Say OK"}],
        },
    )
    assert status == 200, body
    assert json.loads(body)["content"][0]["text"].strip()


def test_streaming_passes_through_unbuffered() -> None:
    status, body = https(
        "POST",
        "/v1/messages",
        body={
            "model": "devstral",
            "max_tokens": 16,
            "stream": True,
            "messages": [{"role": "user", "content": "Say OK"}],
        },
    )
    assert status == 200, body
    events = [line for line in body.decode().splitlines() if line.startswith("event: ")]
    assert events[0] == "event: message_start" and events[-1] == "event: message_stop"


def test_unknown_host_wrong_method_and_other_paths_are_refused() -> None:
    assert https("GET", "/v1/models", host="attacker.example")[0] == 421
    assert https("GET", "/v1/messages")[0] == 405
    assert https("POST", "/v1/models")[0] == 405
    for path in (
        "/key/generate",
        "/model/info",
        "/health",
        "/openapi.json",
        "/ui/",
        "/anthropic/v1/messages",
    ):
        assert https("GET", path, key=MASTER)[0] == 404, path


def test_request_bodies_are_capped() -> None:
    status, _ = https("POST", "/v1/messages", raw=b"{" + b" " * (33 * 1024 * 1024) + b"}")
    assert status == 413


def _sweep(host, base_url: str, key: str, *extra: str) -> dict[str, int]:
    """Every route of LiteLLM's /openapi.json, run on the gateway host itself."""
    host.check_output("mkdir -p /root/ccprov-test")
    subprocess.run(
        ["podman", "cp", str(SWEEP), "instance:/root/ccprov-test/route_sweep.py"], check=True
    )
    args = ["http://127.0.0.1:4000/openapi.json", base_url, key, *extra]
    out = host.check_output(
        "python3 /root/ccprov-test/route_sweep.py " + " ".join(shlex.quote(a) for a in args)
    )
    return json.loads(out)


def _answered(results: dict[str, int]) -> set[str]:
    """Routes that did something for the caller. A 5xx is not counted: features not set up
    here refuse with one before any work (Lens, its own bearer check: 503 "Configure the
    Lens service connection"; litellm/proxy/lens/endpoints.py)."""
    return {route for route, status in results.items() if status not in REFUSED and status < 500}


def test_every_route_through_the_front(host) -> None:
    """985 routes: a developer key reaches the client API and nothing else, an unknown key
    nothing at all."""
    front = (f"https://{GATEWAY}:{PORT}", "--cafile", "/etc/nginx/tls/ca.crt")
    alice = _sweep(host, front[0], ALICE, *front[1:])
    assert len(alice) > 500
    # The front's own health path answers anyone (LiteLLM's liveness, no key needed).
    assert _answered(alice) == CLIENT_API | {"GET /health/liveliness"}
    assert _answered(_sweep(host, front[0], UNKNOWN, *front[1:])) == {"GET /health/liveliness"}


def test_no_spelling_of_any_route_gets_past_the_front(host) -> None:
    """Issue #28: nginx matched the normalised path but forwarded the raw one, and uvicorn
    decodes %2F without resolving dot segments: `GET /metrics/x/../../health/liveliness`
    with no key answered LiteLLM's Prometheus text. Every odd spelling of every route
    (route_sweep.py variants) is now refused by the front itself (400 before routing, or
    404/405: nginx's own answers, never LiteLLM's). Sent with the master key, the one that
    would open the most if a spelling got through (the front decides before any key is
    read; test_every_route_through_the_front covers the developer key's routes)."""
    front = (f"https://{GATEWAY}:{PORT}", "--cafile", "/etc/nginx/tls/ca.crt", "--variants")
    results = _sweep(host, front[0], MASTER, *front[1:])
    assert len(results) > 5000
    reached = {route: status for route, status in results.items() if status not in (400, 404, 405)}
    assert reached == {}, sorted(reached.items())[:20]


def test_the_front_forwards_the_path_it_checked(host) -> None:
    """Each location proxies to its own canonical path (with the query string), so what
    LiteLLM routes on is what nginx matched."""
    say_ok = {
        "model": "devstral",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say OK"}],
    }
    status, body = https("POST", "/v1/messages?beta=true", body=say_ok)
    assert status == 200, body[:200]
    assert https("GET", "/metrics/x/../../health/liveliness", key="")[0] == 400
    assert https("GET", "/metrics%2F..%2Fv1/models", key="")[0] == 400


def test_loopback_refuses_unknown_keys_on_every_authenticated_route(host) -> None:
    """On LiteLLM's own port (the host only) an unknown key gets no further than no key
    at all: what still serves it are LiteLLM's built-in keyless routes (health, OAuth and
    MCP discovery, public hubs), which no key decides and the front does not serve. A
    developer key adds exactly the client API."""
    unknown = _sweep(host, "http://127.0.0.1:4000", UNKNOWN)
    keyless = _sweep(host, "http://127.0.0.1:4000", "")
    served = {route for route, status in unknown.items() if status < 400}
    assert served == {route for route, status in keyless.items() if status < 400}
    assert not _answered(unknown) & CLIENT_API
    alice = _sweep(host, "http://127.0.0.1:4000", ALICE)
    assert _answered(alice) - _answered(keyless) == CLIENT_API


def test_access_log_holds_no_key(host) -> None:
    https("GET", "/v1/models")
    log = host.check_output("journalctl -t nginx --no-pager -o cat")
    assert '"GET /v1/models HTTP/1.1" 200' in log
    for secret in (ALICE, MASTER, "Bearer"):
        assert secret not in log


class _Listener:
    """A TCP listener on the controller's bridge address that counts connections."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_server((CONTROLLER, port))
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


CONNECT = (
    "import socket,sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n"
    "    print('connected')\n"
    "except OSError as e:\n"
    "    print('refused', e)\n"
)


def _connect_as(host, user: str, port: int) -> str:
    prefix = f"setpriv --reuid {user} --regid {user} --clear-groups " if user != "root" else ""
    return host.check_output(f"{prefix}python3 -c {shlex.quote(CONNECT)} {CONTROLLER} {port}")


def test_gateway_services_reach_only_their_backends(host) -> None:
    """LiteLLM's and nginx's users can open no connection off the host except to the
    allowlist (here the backend on loopback and one allowed controller port); root can."""
    allowed, other = _Listener(18081), _Listener(18082)
    try:
        assert _connect_as(host, "litellm", 18081) == "connected"
        assert _connect_as(host, "litellm", 18082).startswith("refused")
        assert _connect_as(host, "ccprov-nginx", 18081).startswith("refused")
        assert _connect_as(host, "root", 18082) == "connected"
        assert (allowed.accepted, other.accepted) == (1, 1)
    finally:
        allowed.close()
        other.close()
    rules = host.check_output("nft list table inet ccprov_litellm_egress")
    assert "reject" in rules


def test_a_burst_from_one_address_gets_a_429_claude_code_retries(host) -> None:
    """Issue #28 finding 6: no limit per client. A burst over the limit from one address is
    refused with 429 in Anthropic's error shape (Claude Code retries it after Retry-After),
    logged once (the access log's line, not an error-log line per request); a request after
    the window is served again."""
    context = ssl.create_default_context(cafile=str(CA))
    answers = []
    for _ in range(3 * BURST):
        conn = http.client.HTTPSConnection(GATEWAY, PORT, timeout=60, context=context)
        try:
            conn.request("GET", "/health/liveliness")
            response = conn.getresponse()
            answers.append((response.status, dict(response.getheaders()), response.read()))
        finally:
            conn.close()
    refused = [(headers, body) for status, headers, body in answers if status == 429]
    assert refused, [status for status, _, _ in answers]
    assert {status for status, _, _ in answers} == {200, 429}
    for headers, body in refused:
        assert json.loads(body) == LIMITED
        assert headers["Content-Type"] == "application/json"
        assert headers["Retry-After"] == "1"
    time.sleep(2 / RATE)  # the window: the bucket drains RATE requests a second
    assert https("GET", "/health/liveliness", key="")[0] == 200
    log = host.check_output("journalctl -t nginx --no-pager -o cat")
    assert '"GET /health/liveliness HTTP/1.1" 429' in log and "limit=REJECTED/" in log
    assert "limiting requests" not in log


def _connect_to(host, user: str, group: str, address: str, port: int) -> str:
    prefix = f"setpriv --reuid {user} --regid {group} --clear-groups " if user != "root" else ""
    return host.check_output(f"{prefix}python3 -c {shlex.quote(CONNECT)} {address} {port}")


def test_only_the_gateway_services_open_the_vllm_ports(host) -> None:
    """Issue #28: any process on the gateway could run the model on a backend's vLLM port,
    past the keys, limits and usage log. The egress table (loaded on either cgroup
    hierarchy) leaves those ports to LiteLLM, nginx (it proxies the backends' /metrics
    here) and root; another user is refused, here on loopback where the stand-ins run."""
    unified = host.file("/sys/fs/cgroup/cgroup.controllers").exists
    print(f"test host cgroup hierarchy: {'unified (v2)' if unified else 'v1/hybrid'}")
    for unit in ("litellm", "nginx"):
        requires = host.check_output(f"systemctl show -p Requires --value {unit}")
        assert "ccprov-litellm-egress.service" in requires, unit
    state = host.check_output("systemctl show -p ActiveState --value ccprov-litellm-egress")
    assert state == "active"
    for port in (8000, 8001):
        assert _connect_to(host, "litellm", "litellm", "127.0.0.1", port) == "connected"
        nginx = _connect_to(host, "ccprov-nginx", "ccprov-nginx", "127.0.0.1", port)
        assert nginx == "connected"
        assert _connect_to(host, "root", "root", "127.0.0.1", port) == "connected"
        assert _connect_to(host, "nobody", "nogroup", "127.0.0.1", port).startswith("refused")
    # Other loopback ports stay open to everyone (LiteLLM's own, for instance).
    assert _connect_to(host, "nobody", "nogroup", "127.0.0.1", 4000) == "connected"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
