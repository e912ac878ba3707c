"""Part 6: added latency of the gateway's two routes to vLLM (figures, not pass/fail).

    .venv/bin/python -m bench.route_compare [--requests 30]
    .venv/bin/python bench/route_compare.py [--requests 30]      (the same)

Sends N streamed Claude Code-sized requests (src/ccprov/probes/conformance_fixtures/
claude_code_request.json: 12 tools, ~50 KB, as the pinned Claude Code sends them), one
after another, straight to the vLLM stand-in, then through the real pinned LiteLLM
gateway with litellm_gateway_backend_route chat_completions, then messages; prints the
median wall time of each, what the gateway adds over the direct request, and how many
conformance checks (ccprov.probes.conformance) each route passes. `python -m bench --only routes`
puts the same figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if not __package__:  # run as a file: bench/route_compare.py
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.common import instant_standin
from ccprov.probes import conformance
from tests.support.gateway import start_gateway
from tests.support.standin import free_port, start_standin

FIXTURE = conformance.FIXTURES / "claude_code_request.json"
KEY = "sk-bench-vllm-key-0123456789abcdef0123"


def timed_requests(base_url: str, token: str, fixture: dict[str, Any], n: int) -> list[float]:
    """Wall milliseconds of N streamed requests, read to the end, on one connection."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    body = json.dumps(fixture["body"]).encode()
    headers = {
        **fixture["headers"],
        "content-type": "application/json",
        "authorization": f"Bearer {token}",
    }
    times = []
    for i in range(n + 2):  # two warm-up requests
        start = time.perf_counter()
        conn.request("POST", fixture["path"], body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200 or b"message_stop" not in payload:
            raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
        if i >= 2:
            times.append(elapsed)
    conn.close()
    return times


ROUTES = ("chat_completions", "messages")


def compare(requests: int) -> dict[str, Any]:
    """Median ms per path and conformance results per route, from one run."""
    fixture = json.loads(FIXTURE.read_text())
    fixture["body"]["messages"][0]["content"][-1] = {"type": "text", "text": "Say OK"}
    port = free_port()
    standin = start_standin(port, KEY)
    url = f"http://127.0.0.1:{port}"
    medians: dict[str, float] = {}
    checks: dict[str, dict[str, Any]] = {}
    try:
        medians["direct"] = statistics.median(timed_requests(url, KEY, fixture, requests))
        for route in ROUTES:
            with tempfile.TemporaryDirectory(prefix=f"route-{route}-") as tmp:
                proc, gateway = start_gateway(
                    Path(tmp), url, KEY, extra_vars={"litellm_gateway_backend_route": route}
                )
                try:
                    times = timed_requests(gateway.url, gateway.master_key, fixture, requests)
                    medians[route] = statistics.median(times)
                    target = conformance.Target(gateway.url, gateway.master_key, "devstral")
                    results = list(conformance.run(target))
                    checks[route] = {
                        "passed": sum(r.ok for r in results),
                        "total": len(results),
                        "failed": [r.name for r in results if not r.ok],
                    }
                finally:
                    proc.terminate()
                    proc.wait(timeout=20)
    finally:
        standin.terminate()
        standin.wait(timeout=10)
    return {
        "requests": requests,
        "median_ms": {k: round(v, 1) for k, v in medians.items()},
        "conformance": checks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    instant_standin()
    result = compare(args.requests)
    medians = result["median_ms"]
    print(f"{args.requests} streamed Claude Code-sized requests each, one at a time (median ms)")
    print(f"{'path':<28}{'median':>9}{'added':>9}  conformance")
    for name, label in (
        ("direct", "direct to the stand-in"),
        ("chat_completions", "gateway, chat_completions"),
        ("messages", "gateway, messages"),
    ):
        added = medians[name] - medians["direct"]
        c = result["conformance"].get(name)
        passed = f"{c['passed']}/{c['total']}" if c else ""
        print(f"{label:<28}{medians[name]:>9.1f}{added:>+9.1f}  {passed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
