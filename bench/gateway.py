"""Part 3: the real pinned LiteLLM with 1..N workers against the instant stand-in, at 1, 10
and 50 keep-alive clients (plain, streamed, paced), beside the same loads sent direct."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import percentile
from tests.support.gateway import start_gateway

# The paced load: 50 sessions, each sending a request every 4 s (12.5 req/s offered).
PACED_EVERY_S = 4.0

# Settings the role could change, tried at the highest worker count: LiteLLM's log level
# (LITELLM_LOG) and its other ASGI server. It already runs uvicorn on uvloop.
GATEWAY_VARIANTS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "log-error": ({"LITELLM_LOG": "ERROR"}, ()),
    "granian": ({}, ("--run_granian",)),
}


class Client:
    """One client with one keep-alive connection, as Claude Code holds one to its gateway."""

    def __init__(self, url: str, key: str, body: bytes) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.headers = {
            "Authorization": f"Bearer {key}",
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
        }
        self.body = body
        self.conn: http.client.HTTPConnection | None = None

    def post(self) -> tuple[int, float, float | None]:
        """(status, wall ms, LiteLLM's overhead header ms); status 0 for a refused or reset."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(*self.address, timeout=60)
            start = time.perf_counter()
            self.conn.request("POST", "/v1/messages", body=self.body, headers=self.headers)
            response = self.conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - start) * 1000
        except OSError:
            self.close()
            return 0, 0.0, None
        if response.will_close:
            self.close()
        overhead = response.getheader("x-litellm-overhead-duration-ms")
        return response.status, elapsed, float(overhead) if overhead else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def ms(values: list[float], q: float) -> float:
    """The Q-th percentile of VALUES, to 2 decimals."""
    return round(percentile(values, q), 2)


def load(
    url: str, key: str, concurrency: int, requests: int, stream: bool, every_s: float = 0.0
) -> dict[str, Any]:
    """CONCURRENCY clients, each sending its share of REQUESTS one after another, or (EVERY_S)
    one every EVERY_S seconds, starting at staggered times: a developer's next request
    waits for the model, so real sessions are paced, not back to back."""
    body = json.dumps(
        {
            "model": "devstral",
            "max_tokens": 16,
            "stream": stream,
            "messages": [{"role": "user", "content": "Say OK"}],
        }
    ).encode()

    def client(index: int, share: int) -> list[tuple[int, float, float | None]]:
        c = Client(url, key, body)
        due = start + every_s * index / concurrency
        out = []
        try:
            for _ in range(share):
                time.sleep(max(0.0, due - time.perf_counter()))
                out.append(c.post())
                due += every_s
            return out
        finally:
            c.close()

    shares = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = [r for batch in pool.map(client, range(concurrency), shares) for r in batch]
    wall = time.perf_counter() - start
    latencies = [r[1] for r in results if r[0] == 200] or [0.0]
    overheads = [r[2] for r in results if r[0] == 200 and r[2] is not None]
    return {
        "requests": requests,
        "errors": sum(r[0] != 200 for r in results),
        "rps": round(requests / wall, 1),
        "latency_ms": {"p50": ms(latencies, 50), "p95": ms(latencies, 95)},
        "overhead_ms": {
            "p50": ms(overheads, 50) if overheads else None,
            "p95": ms(overheads, 95) if overheads else None,
            "p99": ms(overheads, 99) if overheads else None,
        },
    }


def gateway(
    backend_url: str, backend_key: str, requests: int, workers: list[int], variants: list[str]
) -> dict[str, Any]:
    """The same loads straight to the backend and through LiteLLM with 1..N workers."""
    results: dict[str, Any] = {}
    direct: dict[str, Any] = {}
    # (name, clients, requests, streamed, seconds between a client's requests; 0: none)
    loads = [
        (f"{'stream' if stream else 'plain'}-c{clients}", clients,
         requests if clients > 1 else max(20, requests // 5), stream, 0.0)
        for stream in (False, True)
        for clients in (1, 10, 50)
    ] + [("stream-paced-c50", 50, requests, True, PACED_EVERY_S)]  # fmt: skip
    runs: list[tuple[str, int, dict[str, str], tuple[str, ...]]]
    runs = [(f"w{count}", count, {}, ()) for count in workers]
    runs += [
        (f"w{max(workers)}+{name}", max(workers), *GATEWAY_VARIANTS[name]) for name in variants
    ]
    for label, count, extra_env, extra_args in runs:
        with tempfile.TemporaryDirectory() as tmp:
            proc, gw = start_gateway(
                Path(tmp), backend_url, backend_key, count, extra_env, extra_args
            )
            try:
                for name, clients, n, stream, every_s in loads:
                    if name not in direct:
                        direct[name] = load(backend_url, backend_key, clients, n, stream, every_s)
                    through = load(gw.url, gw.master_key, clients, n, stream, every_s)
                    base = direct[name]["latency_ms"]
                    through["direct_p50_ms"] = base["p50"]
                    for q in ("p50", "p95"):
                        through[f"added_vs_direct_{q}_ms"] = round(
                            through["latency_ms"][q] - base[q], 2
                        )
                    results[f"{label}-{name}"] = through
            finally:
                proc.terminate()
                proc.wait(timeout=20)
    return results
