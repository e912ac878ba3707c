"""The TLS front's per-address limits (issue #28 finding 6): nginx's limit_req and
limit_conn keyed on the client address, off at 0, and a refusal that is a 429 in
Anthropic's error shape (which Claude Code retries), while LiteLLM's own 429s pass as they
are. The role's nginx.conf is rendered by Ansible and, where nginx is installed, run."""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import role_templates
from tests.support.gateway import role_default
from tests.support.standin import free_port

TEMPLATE = "etc/nginx/nginx.conf.j2"
COMMON: dict[str, Any] = {
    "inventory_hostname": "gw1.example",
    "litellm_gateway_backends": [{"api_base": "http://10.0.0.7:8000/v1"}],
}
# Small enough to cross in a few requests; the rendered run below uses them.
SMALL = {"litellm_gateway_tls_rate": 1, "litellm_gateway_tls_burst": 3}
REFUSAL = {
    "type": "error",
    "error": {
        "type": "rate_limit_error",
        "message": "Too many requests from this address at the gateway: retry shortly.",
    },
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("limits")
    cases: dict[str, dict[str, Any]] = {
        "defaults": {},
        "off": {"litellm_gateway_tls_rate": 0, "litellm_gateway_tls_conn_limit": 0},
        "small": {**SMALL, "litellm_gateway_tls_conn_limit": 2},
    }
    jobs = [
        role_templates.Job("litellm_gateway", TEMPLATE, tmp / f"{name}.conf", variables)
        for name, variables in cases.items()
    ]
    proc = role_templates.render(tmp / "render", jobs, COMMON)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {name: (tmp / f"{name}.conf").read_text() for name in cases}


def directives(conf: str) -> list[str]:
    return [line.strip() for line in conf.splitlines() if line.strip().startswith("limit_")]


def test_defaults_limit_each_address_generously(rendered) -> None:
    found = directives(rendered["defaults"])
    assert "limit_req_zone $binary_remote_addr zone=ccprov_req:10m rate=20r/s;" in found
    assert "limit_req zone=ccprov_req burst=200 nodelay;" in found
    assert "limit_conn_zone $binary_remote_addr zone=ccprov_conn:10m;" in found
    assert "limit_conn ccprov_conn 512;" in found
    assert {"limit_req_status 429;", "limit_conn_status 429;"} <= set(found)
    assert "error_page 429 @ccprov_limited;" in rendered["defaults"]


def test_zero_turns_each_limit_off(rendered) -> None:
    found = directives(rendered["off"])
    assert not [d for d in found if d.startswith(("limit_req zone", "limit_req_zone"))]
    assert not [d for d in found if d.startswith(("limit_conn ccprov", "limit_conn_zone"))]


class _Upstream(http.server.BaseHTTPRequestHandler):
    """LiteLLM's stand-in: 200 on liveness, its own 429 on /v1/models."""

    def do_GET(self) -> None:  # http.server's name for it
        status, body = (429, b'{"litellm":"rpm"}') if self.path == "/v1/models" else (200, b"ok")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _local(conf: str, tmp: Path, upstream: int, port: int) -> str:
    """The rendered file, made to run here: unprivileged port, own files, local upstream."""
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "1", "-subj", "/CN=gw1.example"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    for path in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        conf = conf.replace(f"/var/lib/ccprov-nginx/{path}", str(tmp / path))
    conf = conf.replace("access_log syslog:server=unix:/dev/log,tag=nginx,nohostname", "access_log")
    conf = conf.replace("access_log ccprov;", f"access_log {tmp / 'access.log'} ccprov;")
    conf = conf.replace("/etc/nginx/tls/gateway.crt", str(cert))
    conf = conf.replace("/etc/nginx/tls/gateway.key", str(key))
    conf = conf.replace("server 127.0.0.1:4000;", f"server 127.0.0.1:{upstream};")
    default = role_default("litellm_gateway_tls_port")
    conf = conf.replace(f"listen {default} ssl", f"listen 127.0.0.1:{port} ssl")
    return "\n".join(line for line in conf.splitlines() if not line.startswith("user "))


@dataclass
class Front:
    port: int
    logs: Path


@pytest.fixture(scope="module")
def front(rendered, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is not installed: add nginx-light to tests/stages/00-setup.sh")
    tmp = tmp_path_factory.mktemp("front")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(_local(rendered["small"], tmp, server.server_address[1], port))
    proc = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(tmp), "-g", f"pid {tmp / 'nginx.pid'};"],
        stderr=(tmp / "error.log").open("wb"),
    )
    try:
        for _ in range(100):
            try:
                _get(port, "/health/liveliness")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"nginx exited: {(tmp / 'error.log').read_text()}")
                time.sleep(0.1)
        yield Front(port, tmp)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.shutdown()


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("GET", path, headers={"Host": "gw1.example"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_a_burst_over_the_limit_gets_anthropics_429_then_passes_again(front) -> None:
    statuses = [_get(front.port, "/health/liveliness") for _ in range(12)]
    refused = [(headers, body) for status, headers, body in statuses if status == 429]
    served = [status for status, _, _ in statuses if status == 200]
    # rate 1/s, burst 3: at most the burst and what the bucket drained meanwhile is served.
    assert refused and served, [s for s, _, _ in statuses]
    for headers, body in refused:
        assert json.loads(body) == REFUSAL
        assert headers["Content-Type"] == "application/json"
        assert headers["Retry-After"] == "1"
    # After the window (1/rate) one more request is served.
    time.sleep(1.5)
    assert _get(front.port, "/health/liveliness")[0] == 200
    # Logged once each: the access log's line says which limit refused it; the error log
    # (nginx's stderr, the journal on the host) has no line per refused request.
    access = (front.logs / "access.log").read_text().splitlines()
    rejected = [line for line in access if " 429 " in line and "limit=REJECTED/" in line]
    assert len(rejected) == len(refused)
    assert "limiting requests" not in (front.logs / "error.log").read_text()


def test_litellms_own_429_passes_unchanged(front) -> None:
    time.sleep(1.5)  # a token for this request, whatever the test before left
    status, _, body = _get(front.port, "/v1/models")
    assert (status, body) == (429, b'{"litellm":"rpm"}')
