"""The usage log and Prometheus metrics (issue #21) in the real pinned LiteLLM, two workers,
the role's config: every request is one usage line with the tokens the backend reported,
failures once each, no prompt text or key in any file; the metrics of both workers add up
to exactly the same counts per developer; `ccprov usage`'s report reads the same numbers."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ccprov.fleet import usage
from tests.conftest import free_port, start_standin
from tests.e2e.conftest import Gateway, start_gateway

pytestmark = pytest.mark.slow

ALICE = "sk-ccprov-alice-usage-0123456789abcdef"
BOB = "sk-ccprov-bob-usage-0123456789abcdef"
UNKNOWN = "sk-ccprov-nobody-usage-0123456789abcdef"
BACKEND_KEY = "sk-standin-usage-0123456789abcdef0123"
CANARY = "CANARY-e2e-usage-5d1c"
SESSION = "0f0e7c55-6d1e-4d5e-9b8f-usage00000001"
# Long enough for whole prefix-cache blocks: from the second request on, cache reads.
PROMPT = CANARY + " please say OK" * 40


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("usage-gateway")
    port = free_port()
    # Cached-token counts come from vLLM only with --enable-prompt-tokens-details.
    backend = start_standin(port, BACKEND_KEY, "--enable-prompt-tokens-details")
    (tmp / "prometheus").mkdir()
    try:
        proc, gateway = start_gateway(
            tmp,
            f"http://127.0.0.1:{port}",
            BACKEND_KEY,
            workers=2,
            # Refused requests are counted a minute at a time; here each is its own line.
            extra_env={
                "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
                "CCPROV_USAGE_REFUSED_WINDOW": "0",
            },
            extra_vars={"litellm_gateway_metrics_clients": ["10.0.0.0/8"]},
        )
    except BaseException:
        backend.terminate()
        raise
    gateway.set_developers(
        {
            "alice": {"sha256": hashlib.sha256(ALICE.encode()).hexdigest()},
            "bob": {"sha256": hashlib.sha256(BOB.encode()).hexdigest()},
        }
    )
    try:
        yield gateway
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        backend.terminate()
        backend.wait(timeout=10)


def post(gateway: Gateway, path: str, key: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        gateway.url + path, data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    request.add_header("anthropic-version", "2023-06-01")
    request.add_header("X-Claude-Code-Session-Id", SESSION)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def messages(text: str, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "devstral",
        "max_tokens": 16,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def reported(body: str, stream: bool) -> tuple[int, int, int]:
    """(prompt tokens, output tokens, cache reads) the backend reported to the client."""
    if stream:
        found: dict[str, int] = {}
        for line in body.splitlines():
            if line.startswith("data: ") and '"usage"' in line:
                event = json.loads(line[6:])
                found.update(event.get("usage") or {})
    else:
        found = json.loads(body)["usage"]
    cached = found.get("cache_read_input_tokens") or 0
    prompt = (found.get("input_tokens") or 0) + cached
    prompt += found.get("cache_creation_input_tokens") or 0
    return prompt, found["output_tokens"], cached


def scrape(gateway: Gateway) -> str:
    with urllib.request.urlopen(gateway.url + "/metrics/", timeout=10) as response:
        return str(response.read().decode())


def counter(text: str, name: str, user: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and f'user="{user}"' in line
    )


def test_every_request_is_logged_and_counted_once(metered: Gateway) -> None:
    before = scrape(metered)
    want: dict[str, list[tuple[int, int, int]]] = {"alice": [], "bob": []}
    for index in range(6):  # new connections: the requests spread over both workers
        stream = index % 2 == 1
        status, body = post(metered, "/v1/messages?beta=true", ALICE, messages(PROMPT, stream))
        assert status == 200, body
        want["alice"].append(reported(body, stream))
    status, body = post(metered, "/v1/chat/completions", BOB, messages(PROMPT))
    assert status == 200, body
    answer = json.loads(body)["usage"]
    cached = (answer.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    want["bob"].append((answer["prompt_tokens"], answer["completion_tokens"], cached))
    assert post(metered, "/v1/messages", UNKNOWN, messages(CANARY))[0] == 401
    assert post(metered, "/v1/messages", BOB, {**messages(CANARY), "model": "nope"})[0] == 400

    # LiteLLM runs its success callbacks after the answer has gone (a stream's after its
    # last byte), in the background: the last lines land a moment later on a busy machine.
    directory = metered.log.parent / "usage"
    deadline = time.monotonic() + 20
    while True:
        text = "".join(path.read_text() for path in sorted(directory.glob("usage-*.jsonl")))
        records, skipped = usage.parse_lines(text, "gw")
        if len(records) >= 9 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert skipped == 0 and len(records) == 9
    assert sum(r.cached_tokens for r in records) > 0
    for name in ("alice", "bob"):
        got = [
            (r.input_tokens, r.output_tokens, r.cached_tokens)
            for r in records
            if r.developer == name and r.ok
        ]
        assert got == want[name]
    assert [(r.developer, r.status, r.error) for r in records if not r.ok] == [
        (None, 401, "ProxyException"),
        ("bob", 400, "ProxyModelNotFoundError"),
    ]
    # The session header, read by LiteLLM; a refused key never gets that far.
    assert {r.session for r in records if r.developer} == {SESSION}
    assert [(r.session, r.model, r.count) for r in records if r.developer is None] == [
        (None, None, 1)
    ]

    report = usage.report(records, "developer", None, dt.datetime.now(dt.UTC))
    rows = {row.key: row for row in report.rows}
    assert rows["alice"].requests == 6 and rows["alice"].errors == 0
    assert rows["alice"].input_tokens == sum(p for p, _, _ in want["alice"])
    assert rows["bob"].requests == 2 and rows["bob"].errors == 1
    assert rows[usage.REFUSED].requests == 1

    # Both workers' counters, merged: exactly the requests and tokens above.
    after = scrape(metered)
    requests = "litellm_proxy_total_requests_metric_total"
    assert counter(after, requests, "alice") - counter(before, requests, "alice") == 6
    assert counter(after, requests, "bob") - counter(before, requests, "bob") == 2
    for metric, column in (
        ("litellm_input_tokens_metric_total", 0),
        ("litellm_output_tokens_metric_total", 1),
    ):
        assert counter(after, metric, "alice") - counter(before, metric, "alice") == sum(
            entry[column] for entry in want["alice"]
        )

    # No prompt text and no key in any file the gateway wrote (usage, metrics, its log).
    for path in Path(metered.log.parent).rglob("*"):
        if path.is_file() and path.name not in ("keys.yaml", "config.yaml"):
            content = path.read_bytes()
            for secret in (CANARY, ALICE, BOB, UNKNOWN, BACKEND_KEY):
                assert secret.encode() not in content, (secret, path)
