"""Every path of a vLLM server without its key: only the open ones may answer anything but
401 (issue #28: vLLM 0.33.0's --api-key guards /v1, /v2, /inference and /cohere only, so
/invocations, /tokenize, /scale_elastic_ep... served anyone who reached the port). Used
against the reference (its real routes, from its own start log) and the stand-in."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.paths import REPO, STANDIN_SRC

# Where the role's guard lives in the checkout (the unit's PYTHONPATH names its installed copy).
GUARD_DIR = REPO / "roles/vllm_server/files"

# What must stay open, and why: the role's health gate (tasks/service.yml) and `ccprov
# status` read /health; the gateway's nginx (/metrics/vllm/<host>) and `ccprov status`
# read /metrics, both without the key. Reading only: GET and HEAD.
OPEN = {("GET", "/health"), ("HEAD", "/health"), ("GET", "/metrics"), ("HEAD", "/metrics")}

# Paths that reach a guarded route, or an open one, by another spelling; none is an open
# path (exact match only), so all need the key. uvicorn percent-decodes the path before
# routing (so /%69nvocations is /invocations) and normalises nothing else.
TRICKS = [
    "//v1/models",
    "//health",
    "/health/",
    "/health/../invocations",
    "/v1/../invocations",
    "/%69nvocations",
    "/metrics/../tokenize",
    "/metricsx",
    "/health%2f..%2finvocations",
    "/V1/models",
    "/invocations?x=/health",
    "/",
    "/no-such-path",
]

_ROUTE = re.compile(r"Route: (?P<path>/\S*), (?:Methods: (?P<methods>[A-Z, ]+)|Endpoint: \S+)$")


def routes_from_log(log: Path) -> dict[str, set[str]]:
    """The routes vLLM lists at start (entrypoints/launchers/launcher.py serve_http: every
    route of the app it serves, `Route: PATH, Methods: ...`, websockets as `Endpoint: ...`),
    path parameters filled in. A websocket route is swept with a plain GET."""
    found: dict[str, set[str]] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = _ROUTE.search(line)
        if match:
            path = re.sub(r"\{[^}]+\}", "x", match["path"])
            methods = (match["methods"] or "GET").replace(" ", "").split(",")
            found.setdefault(path, set()).update(methods)
    return found


def requests(routes: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Each route with each of its methods and OPTIONS (CORS preflight), then TRICKS with
    GET and POST."""
    out = {(m, p) for p, methods in routes.items() for m in methods | {"OPTIONS"}}
    out |= {(m, p) for p in TRICKS for m in ("GET", "POST")}
    return sorted(out, key=lambda r: (r[1], r[0]))


def status(url: str, method: str, path: str, headers: dict[str, str]) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        send = {**headers, "content-type": "application/json"} if body else dict(headers)
        conn.request(method, path, body=body, headers=send)
        return conn.getresponse().status
    finally:
        conn.close()


WRONG = {
    "no key": {},
    "wrong key": {"Authorization": "Bearer sk-wrong-0123456789abcdef0123456789ab"},
}


def wrong_answers(url: str, key: str, sent: Iterable[tuple[str, str]]) -> list[str]:
    """Every request that answered otherwise than it must without the right key: 401, or
    (an open path) anything but 401. Also the key in the wrong place (x-api-key, no
    `Bearer`) counts as no key."""
    wrong = {
        **WRONG,
        "x-api-key": {"x-api-key": key},
        "no scheme": {"Authorization": key},
    }
    found = []
    for method, path in sent:
        for name, headers in wrong.items():
            got = status(url, method, path, headers)
            if ((method, path) in OPEN) == (got == 401):
                found.append(f"{method} {path} ({name}): {got}")
    return found


@contextlib.contextmanager
def standin(
    args: list[str], key: str, guard_dir: Path = GUARD_DIR
) -> Iterator[subprocess.Popen[bytes]]:
    """The stand-in started as the unit starts vLLM: `vllm ARGS` (from `serve`), the key in
    VLLM_API_KEY, the guard's directory on PYTHONPATH; yields once /health answers, or the
    process if it exited first."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(STANDIN_SRC), str(guard_dir)]),
        "VLLM_API_KEY": key,
    }
    port = args[args.index("--port") + 1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm", *args, "--disable-log-requests"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
