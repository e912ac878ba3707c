"""The usage log and the metrics (issue #21): each request through the front becomes one
line in the day's usage file with the developer and the tokens the backend reported (mode
0640, the ops group); no prompt text and no key is written anywhere on the host; /metrics
answers the monitoring network (molecule.yml: the controller) with per-developer counters
and refuses everyone else."""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import uuid
from pathlib import Path

import yaml

GATEWAY = "10.88.200.10"
# The TLS front's port: the role's default (converge.yml sets none).
PORT = yaml.safe_load((Path(__file__).resolve().parents[3] / "defaults/main.yml").read_text())[
    "litellm_gateway_tls_port"
]
CA = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ccprov-ca/ca.crt"
ALICE = "sk-ccprov-alice-molecule-0123456789"
CAROL = "sk-ccprov-carol-molecule-0123456789"
UNKNOWN = "sk-ccprov-nobody-canary-0123456789abcdef"
USAGE_DIR = "/var/log/ccprov-usage"


def https(
    method: str, path: str, key: str | None = None, body: object = None, session: str = ""
) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection(
        GATEWAY, PORT, timeout=60, context=ssl.create_default_context(cafile=str(CA))
    )
    headers = {"anthropic-version": "2023-06-01", "Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if session:
        headers["X-Claude-Code-Session-Id"] = session
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def turn(key: str, text: str, session: str, stream: bool = False) -> dict[str, int]:
    """One Claude Code-shaped request; the usage the backend reported to the client."""
    status, body = https(
        "POST",
        "/v1/messages?beta=true",
        key,
        {
            "model": "devstral",
            "max_tokens": 16,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        },
        session,
    )
    assert status == 200, body
    if not stream:
        return json.loads(body)["usage"]
    usage: dict[str, int] = {}
    for line in body.decode().splitlines():
        if line.startswith("data: ") and '"usage"' in line:
            event = json.loads(line[6:])
            usage.update(event.get("usage") or event.get("message", {}).get("usage") or {})
    return usage


def prompt_tokens(usage: dict[str, int]) -> int:
    """LiteLLM's prompt_tokens for /v1/messages: uncached + cache read + cache write."""
    return sum(
        usage.get(name) or 0
        for name in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )


def usage_lines(host, session: str) -> list[dict[str, object]]:
    day = host.check_output("date -u +%F")
    text = host.check_output(f"cat {USAGE_DIR}/usage-{day}.jsonl")
    return [json.loads(line) for line in text.splitlines() if f'"{session}"' in line]


def test_each_request_is_one_line_with_the_developer_and_tokens(host) -> None:
    session_a, session_c = f"usage-{uuid.uuid4()}", f"usage-{uuid.uuid4()}"
    got_a = [
        turn(ALICE, "Say OK", session_a),
        turn(ALICE, "Say OK again, in a stream", session_a, stream=True),
    ]
    got_c = turn(CAROL, "Say OK", session_c)
    alice, carol = usage_lines(host, session_a), usage_lines(host, session_c)
    assert [line["developer"] for line in alice] == ["alice", "alice"]
    assert [line["stream"] for line in alice] == [False, True]
    assert [line["input_tokens"] for line in alice] == [prompt_tokens(u) for u in got_a]
    assert [line["output_tokens"] for line in alice] == [u["output_tokens"] for u in got_a]
    assert [(line["developer"], line["status"]) for line in carol] == [("carol", 200)]
    assert carol[0]["input_tokens"] == prompt_tokens(got_c)
    assert carol[0]["output_tokens"] == got_c["output_tokens"]
    assert carol[0]["backend"] in ("127.0.0.1:8000", "127.0.0.1:8001")
    for line in alice + carol:
        assert line["ttft_ms"] is not None and line["total_ms"] >= line["ttft_ms"] >= 0


def test_usage_files_are_for_the_ops_group_only(host) -> None:
    directory = host.file(USAGE_DIR)
    assert (directory.user, directory.group, directory.mode) == ("litellm", "ccprov-usage", 0o2750)
    files = host.check_output(f"ls {USAGE_DIR}").split()
    assert files and all(re.fullmatch(r"usage-\d{4}-\d{2}-\d{2}\.jsonl", name) for name in files)
    for name in files:
        usage_file = host.file(f"{USAGE_DIR}/{name}")
        assert (usage_file.user, usage_file.group, usage_file.mode) == (
            "litellm",
            "ccprov-usage",
            0o640,
        )


def test_old_usage_files_are_removed_after_the_retention(host) -> None:
    old = f"{USAGE_DIR}/usage-2000-01-01.jsonl"
    host.check_output(f"install -o litellm -g ccprov-usage -m 0640 /dev/null {old}")
    host.check_output(f"touch -m -d '91 days ago' {old} && touch -a {old}")
    host.check_output("systemd-tmpfiles --clean /etc/tmpfiles.d/ccprov-usage.conf")
    assert not host.file(old).exists
    assert host.check_output(f"ls {USAGE_DIR}")  # today's file stays


def test_no_prompt_text_and_no_key_is_written_anywhere(host) -> None:
    canary = f"CANARY-{uuid.uuid4().hex}"
    session = f"usage-{uuid.uuid4()}"
    turn(ALICE, f"Repeat after me: {canary}", session)
    turn(ALICE, f"Repeat after me, streaming: {canary}", session, stream=True)
    status, _ = https(
        "POST",
        "/v1/messages",
        UNKNOWN,
        {"model": "devstral", "max_tokens": 8, "messages": [{"role": "user", "content": canary}]},
    )
    assert status == 401
    assert len(usage_lines(host, session)) == 2
    host.check_output("journalctl --sync || true")
    for secret in (canary, ALICE, UNKNOWN):
        # Files of the host's state, logs and config (the journal's files included), then
        # the journal as text.
        found = host.run(
            f"grep -rlaF -e {secret} /var/log /var/lib /var/cache /etc /run /tmp 2>/dev/null"
        )
        assert found.stdout.strip() == "", f"{secret[:12]}... found in {found.stdout}"
        journal = host.run(f"journalctl --no-pager -o cat | grep -cF -e {secret}")
        assert journal.stdout.strip() == "0", f"{secret[:12]}... is in the journal"


def scrape(path: str = "/metrics") -> tuple[int, str]:
    status, body = https("GET", path)
    return status, body.decode("utf-8", "replace")


def counter(text: str, name: str, user: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'user="{user}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_per_developer_for_the_monitoring_network(host) -> None:
    """Scrapes from the controller (litellm_gateway_metrics_clients); two workers, so every
    scrape must merge both workers' counters to count exactly."""
    status, before = scrape()
    assert status == 200, before
    session = f"usage-{uuid.uuid4()}"
    got = [turn(CAROL, "Say OK", session) for _ in range(3)]
    _, after = scrape()
    requests = "litellm_proxy_total_requests_metric_total"
    assert counter(after, requests, "carol") - counter(before, requests, "carol") == 3
    tokens = "litellm_input_tokens_metric_total"
    assert counter(after, tokens, "carol") - counter(before, tokens, "carol") == sum(
        prompt_tokens(u) for u in got
    )
    out = "litellm_output_tokens_metric_total"
    assert counter(after, out, "carol") - counter(before, out, "carol") == sum(
        u["output_tokens"] for u in got
    )
    assert re.search(r'^litellm_request_total_latency_metric_count\{.*user="carol"', after, re.M)
    # Each backend's own vLLM metrics, through the front (vLLM's port stays closed).
    status, vllm = scrape("/metrics/vllm/127.0.0.1:8000")
    assert status == 200 and "vllm:prefix_cache_queries_total" in vllm
    assert scrape("/metrics/vllm/127.0.0.1:9")[0] == 404
    assert https("POST", "/metrics")[0] == 403


def test_metrics_are_refused_from_elsewhere(host) -> None:
    """From the gateway host itself (not in the allowlist): 403, on both paths."""
    for path in ("/metrics", "/metrics/vllm/127.0.0.1:8000"):
        for source in (GATEWAY, "127.0.0.1"):
            code = host.check_output(
                "curl -s -o /dev/null -w '%{http_code}' --cacert /etc/nginx/tls/ca.crt "
                f"--connect-to ::{source}:{PORT} https://{GATEWAY}:{PORT}{path}"
            )
            assert code == "403", (path, source, code)
