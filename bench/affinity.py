"""Part 7, session affinity at the gateway: prefix-cache hits, TTFT and spread over vLLM
replicas.

    .venv/bin/python -m bench.affinity [--sessions 20] [--turns 10] [--workers 4] [--save]
    .venv/bin/python -m bench.affinity --only '4 replicas: affinity+redis'   (some rows only)
    .venv/bin/python -m bench --only affinity      (the same; both --save into README)

20 simulated Claude Code sessions x 10 turns, streamed through the real pinned LiteLLM
(the role's config and callbacks, 4 workers) to 2 and 4 vLLM stand-in replicas, each with
its own prefix cache (tests/standins/vllm/src/vllm/prefix_cache.py) and a time to the first
token that grows with the uncached prompt tokens. Each request is shaped like the pinned Claude
Code's (src/ccprov/probes/conformance_fixtures/claude_code_request.json: its system prompt and 12
tools, metadata.user_id, the X-Claude-Code-Session-Id header) plus a per-session project
context (the inline system message: working directory, CLAUDE.md, git status), ~20k
stand-in tokens before the history; each turn adds a Read call and its result. Settings:
- `shuffle`: the role's router_settings (simple-shuffle);
- `affinity`: + optional_pre_call_checks [session_affinity, deployment_affinity], pins in
  each worker's memory;
- `affinity+redis`: the same with redis_host/redis_port/redis_password, pins shared by all
  workers (a loopback redis-server started here);
- `affinity+redis, no session header`: Claude Code's metadata.user_id only;
- `failover`: affinity+redis, one replica killed (SIGKILL) half-way; failed turns are
  those the client saw fail after LiteLLM's retries.
With affinity on, the role's files/ccprov_spread.py pins each new session to the replica
with the fewest session pins. Each gateway first serves 2 x workers first turns of a key no
measured session uses (warm workers: a cold one takes seconds between picking a replica and
sending to it), whose pins are then dropped.
Hit rate = vllm:prefix_cache_hits / vllm:prefix_cache_queries summed over the replicas
(/metrics); TTFT = client-side time to the first content_block_delta.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import http.client
import json
import random
import shutil
import signal
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import report
from bench.common import percentile
from ccprov.probes import conformance
from tests.support.fleet import (
    FleetGateway,
    Redis,
    Replica,
    start_fleet_gateway,
    start_redis,
    start_replicas,
)

FIXTURE = conformance.FIXTURES / "claude_code_request.json"
# The stand-ins' time to the first token for this bench (prefix_cache.py): 30 ms plus
# 40 ms per 1k uncached prompt tokens (25k tokens/s of prefill per replica, one prefill
# at a time). A 123B model prefills slower; the ratios between settings are what count.
TTFT_ENV = {"VLLM_STANDIN_TTFT_BASE_MS": "30", "VLLM_STANDIN_TTFT_PER_1K_MS": "40"}
# The stand-ins report cached tokens in usage, as vLLM does with this flag.
STANDIN_FLAGS = ("--enable-prompt-tokens-details",)
AFFINITY = {
    "optional_pre_call_checks": ["session_affinity", "deployment_affinity"],
    "deployment_affinity_ttl_seconds": 3600,
}
WORDS = [
    "config",
    "handler",
    "request",
    "session",
    "backend",
    "worker",
    "module",
    "parse",
    "render",
    "stream",
    "token",
    "cache",
    "gateway",
    "replica",
    "deploy",
    "inventory",
    "service",
    "metric",
    "schema",
    "record",
    "query",
    "update",
    "client",
    "value",
    "index",
    "buffer",
    "thread",
    "process",
    "socket",
    "header",
    "payload",
    "status",
    "result",
    "error",
    "retry",
]


def _text(rng: random.Random, words: int, width: int = 12) -> str:
    lines = []
    for _ in range(max(1, words // width)):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(width)))
    return "\n".join(lines)


def project_context(rng: random.Random, project: str, run: str) -> str:
    """What differs per session in Claude Code's inline system message: working directory,
    CLAUDE.md and git status (~7k stand-in tokens)."""
    return (
        f"\n\n# Project {project} (run {run})\nContents of /srv/{project}/CLAUDE.md:\n"
        + _text(rng, 5200)
        + "\n\ngitStatus: This is the git status at the start of the conversation.\n"
        + "\n".join(f" M src/{rng.choice(WORDS)}_{i}.py" for i in range(60))
    )


@dataclass
class Session:
    index: int
    base: dict[str, Any]
    headers: dict[str, str]
    project: str
    rng: random.Random
    messages: list[dict[str, Any]] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    usage: list[tuple[int, int]] = field(default_factory=list)  # (prompt, cached) per turn
    failed: int = 0
    turns: int = 0


def make_sessions(n: int, run: str, key_of: list[str], header: bool) -> list[Session]:
    fixture = json.loads(FIXTURE.read_text())
    sessions = []
    for i in range(n):
        rng = random.Random(f"{run}-{i}")  # noqa: S311 (made-up text, not secrets)
        body = copy.deepcopy(fixture["body"])
        session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        project = f"project-{i:02d}"
        # A tag at the very start of the system prompt: no two runs share cached blocks.
        body["system"][1] = {**body["system"][1], "text": f"[{run}] " + body["system"][1]["text"]}
        user_id = json.loads(body["metadata"]["user_id"])
        user_id["session_id"] = session_id
        body["metadata"]["user_id"] = json.dumps(user_id, separators=(",", ":"))
        first_user, inline_system = body["messages"][0], body["messages"][1]
        inline_system["content"][0]["text"] = inline_system["content"][0]["text"].replace(
            "/home/dev/project", f"/srv/{project}"
        ) + project_context(rng, project, run)
        first_user["content"][-1] = {"type": "text", "text": f"Read /srv/{project}/src/a_0.py"}
        headers = {
            **fixture["headers"],
            "content-type": "application/json",
            "authorization": f"Bearer {key_of[i]}",
        }
        if header:  # as the pinned Claude Code sends it (captured 2026-11-30)
            headers["X-Claude-Code-Session-Id"] = session_id
        del body["messages"]
        sessions.append(
            Session(i, body, headers, project, rng, messages=[first_user, inline_system])
        )
    return sessions


def stream_turn(gateway: str, session: Session, timeout: float = 120) -> bool:
    """One streamed turn; on success the assistant's answer joins the history."""
    parts = urlsplit(gateway)
    body = json.dumps({**session.base, "messages": session.messages}).encode()
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    started = time.perf_counter()
    first: float | None = None
    blocks: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    stopped = False
    usage = (0, 0)
    try:
        conn.request("POST", "/v1/messages?beta=true", body=body, headers=session.headers)
        response = conn.getresponse()
        if response.status != 200:
            response.read()
            return False
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            kind = event.get("type")
            if kind == "content_block_start":
                block = dict(event["content_block"])
                blocks.append(block)
            elif kind == "content_block_delta":
                if first is None:
                    first = time.perf_counter() - started
                delta = event["delta"]
                if delta.get("type") == "text_delta":
                    blocks[-1]["text"] = blocks[-1].get("text", "") + delta["text"]
                elif delta.get("type") == "input_json_delta":
                    partial[len(blocks) - 1] = (
                        partial.get(len(blocks) - 1, "") + delta["partial_json"]
                    )
            elif kind == "message_delta":
                u = event.get("usage") or {}
                cached = u.get("cache_read_input_tokens") or 0
                prompt = (u.get("input_tokens") or 0) + cached
                prompt += u.get("cache_creation_input_tokens") or 0
                usage = (prompt, cached)
            elif kind == "error":
                return False
            elif kind == "message_stop":
                stopped = True
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        conn.close()
    if not stopped or first is None:
        return False
    session.ttft.append(first)
    session.usage.append(usage)
    for i, block in enumerate(blocks):
        if block["type"] == "tool_use":
            block["input"] = json.loads(partial.get(i) or "{}")
    session.messages.append({"role": "assistant", "content": blocks})
    calls = [b for b in blocks if b["type"] == "tool_use"]
    if calls:  # Claude Code runs the tool and sends its result
        results = [
            {
                "type": "tool_result",
                "tool_use_id": call["id"],
                "content": f"# {call['input'].get('file_path')}\n" + _text(session.rng, 700),
            }
            for call in calls
        ]
        session.messages.append({"role": "user", "content": results})
    else:
        n = len(session.messages)
        ask = f"Read /srv/{session.project}/src/a_{n}.py and tell me what it does"
        session.messages.append({"role": "user", "content": [{"type": "text", "text": ask}]})
    return True


def drive(
    gateway: str,
    sessions: list[Session],
    turns: int,
    on_half: Any = None,
) -> float:
    """All sessions at once, each turn after the last (plus a tool's 0.2-0.6 s); ON_HALF
    runs once when half of all turns are done. Returns the wall time."""
    done = 0
    lock = threading.Lock()
    fired = threading.Event()
    total = len(sessions) * turns

    def one(session: Session) -> None:
        nonlocal done
        time.sleep(session.index * 0.1)  # staggered starts
        for _ in range(turns):
            session.turns += 1
            if not stream_turn(gateway, session):
                session.failed += 1
            with lock:
                done += 1
                half = done >= total // 2 and not fired.is_set()
                if half:
                    fired.set()
            if half and on_half is not None:
                on_half()
            time.sleep(session.rng.uniform(0.2, 0.6))

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def start_gateway(tmp: Path, *args: Any, **kwargs: Any) -> FleetGateway:
    """start_fleet_gateway, once more if LiteLLM was not ready in time: on a machine busy
    with other tests its 4 workers have taken longer than the 180 s it waits."""
    try:
        return start_fleet_gateway(tmp, *args, **kwargs)
    except RuntimeError as error:
        if "did not become ready" not in str(error):
            raise
        print(f"  {tmp.name}: LiteLLM not ready in time, starting it once more", flush=True)
        return start_fleet_gateway(tmp.with_name(tmp.name + "-again"), *args, **kwargs)


def warm_up(gateway: FleetGateway, key: str, n: int) -> None:
    """N first turns at once under KEY: every worker serves one before the measured
    sessions start (a cold worker is seconds slow between picking a replica and sending)."""
    warm = make_sessions(n, "warm-" + uuid.uuid4().hex[:8], [key] * n, True)
    threads = [threading.Thread(target=stream_turn, args=(gateway.url, s)) for s in warm]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def measure(
    label: str,
    replicas: list[Replica],
    gateway: FleetGateway,
    sessions_n: int,
    turns: int,
    keys: list[str],
    header: bool = True,
    kill_half_way: bool = False,
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    sessions = make_sessions(sessions_n, run, keys, header)
    before = {r.port: r.metrics() for r in replicas}
    last: dict[int, dict[str, float]] = {}
    victim = replicas[-1]

    def kill() -> None:
        last[victim.port] = victim.metrics()
        victim.stop(signal.SIGKILL)

    wall = drive(gateway.url, sessions, turns, kill if kill_half_way else None)
    hits = queries = 0.0
    per_replica = []
    for r in replicas:
        now = last.get(r.port) or r.metrics()
        b = before[r.port]
        hits += now["vllm:prefix_cache_hits_total"] - b["vllm:prefix_cache_hits_total"]
        queries += now["vllm:prefix_cache_queries_total"] - b["vllm:prefix_cache_queries_total"]
        per_replica.append(int(now["vllm:request_success_total"] - b["vllm:request_success_total"]))
    ttft = [t for s in sessions for t in s.ttft]
    # From vLLM's usage (--enable-prompt-tokens-details): a session's first turn is cold
    # whatever the routing, so the hit rate of the turns after it shows the routing alone.
    later = [u for s in sessions for u in s.usage[1:]]
    later_queries = sum(p for p, _ in later)
    row = {
        "label": label,
        "replicas": len(replicas),
        "turns": sum(s.turns for s in sessions),
        "failed": sum(s.failed for s in sessions),
        "hit_rate": round(100 * hits / queries, 1) if queries else 0.0,
        "hit_rate_later_turns": round(100 * sum(c for _, c in later) / later_queries, 1)
        if later_queries
        else None,
        "ttft_p50_ms": round(1000 * statistics.median(ttft), 1) if ttft else None,
        "ttft_p95_ms": round(1000 * percentile(ttft, 95), 1) if ttft else None,
        "per_replica": per_replica,
        "wall_s": round(wall, 1),
    }
    alive = per_replica[:-1] if kill_half_way else per_replica
    row["max_min"] = round(max(alive) / min(alive), 2) if min(alive) else None
    print(
        f"  {label}: hit {row['hit_rate']}% (later turns {row['hit_rate_later_turns']}%),"
        f" TTFT p50/p95 {row['ttft_p50_ms']}/{row['ttft_p95_ms']} ms,"
        f" per replica {per_replica}, failed {row['failed']}/{row['turns']}, {row['wall_s']} s",
        flush=True,
    )
    return row


def bench(
    sessions: int = 20, turns: int = 10, workers: int = 4, only: list[str] | None = None
) -> dict[str, Any]:
    """The rows whose "N replicas: label" contains one of ONLY (all without it)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-affinity-"))
    # One developer (own key) per session, as the gateway's key hook knows them.
    keys = [
        f"sk-dev-{i:02d}-{hashlib.sha256(str(i).encode()).hexdigest()[:24]}"
        for i in range(sessions)
    ]
    warm_key = f"sk-dev-warm-{hashlib.sha256(b'warm').hexdigest()[:24]}"
    developers = {
        f"dev{i:02d}": {"sha256": hashlib.sha256(k.encode()).hexdigest()}
        for i, k in enumerate([*keys, warm_key])
    }
    redis: Redis | None = start_redis(tmp / "redis")
    rows: list[dict[str, Any]] = []
    notes: dict[str, Any] = {"workers": workers, "sessions": sessions, "turns": turns}
    try:
        plan: list[tuple[int, str, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
            (2, "shuffle", {}, [("shuffle", {})]),
            (2, "affinity+redis", {"redis": True}, [("affinity+redis", {})]),
            (4, "shuffle", {}, [("shuffle", {})]),
            (4, "affinity", {}, [("affinity, pins per worker", {})]),
            (
                4,
                "affinity+redis",
                {"redis": True},
                [
                    ("affinity+redis", {}),
                    ("affinity+redis, no session header", {"header": False}),
                    ("failover: affinity+redis, 1 of 4 killed", {"kill_half_way": True}),
                ],
            ),
        ]
        for n, setting, opts, runs in plan:
            runs = [r for r in runs if not only or any(s in f"{n} replicas: {r[0]}" for s in only)]
            if not runs:
                continue
            router: dict[str, Any] = {}
            if setting != "shuffle":
                router = dict(AFFINITY)
            if opts.get("redis"):
                if redis is None:
                    print(f"  {n} replicas, {setting}: skipped, no redis-server", flush=True)
                    continue
                router |= {
                    "redis_host": "127.0.0.1",
                    "redis_port": redis.port,
                    "redis_password": "os.environ/LITELLM_REDIS_PASSWORD",
                }
                redis.cli("FLUSHALL")
            replicas = start_replicas(n, TTFT_ENV, STANDIN_FLAGS)
            gateway = start_gateway(
                tmp / f"gw-{n}-{setting}",
                replicas,
                workers,
                router,
                extra_env={"LITELLM_REDIS_PASSWORD": redis.password} if redis else None,
                developers=developers,
            )
            notes.setdefault("router_settings", {})[setting] = {
                k: ("<port>" if k == "redis_port" else v)
                for k, v in gateway.config["router_settings"].items()
            }
            try:
                warm_up(gateway, warm_key, 2 * workers)
                if redis is not None and opts.get("redis"):
                    redis.cli("FLUSHALL")  # the warm-up's pins
                for label, kwargs in runs:
                    rows.append(measure(label, replicas, gateway, sessions, turns, keys, **kwargs))
                if redis is not None and opts.get("redis"):
                    pins = redis.cli("--scan", "--pattern", "deployment_affinity:*").split()
                    notes.setdefault("redis_pins", {})[f"{n}"] = len(pins)
            finally:
                gateway.stop()
                for r in replicas:
                    r.stop()
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"rows": rows, **notes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--save", action="store_true", help="also put the figures in bench/README.md"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SUBSTRING",
        help="run only the rows whose 'N replicas: label' contains SUBSTRING (repeatable),"
        " e.g. '4 replicas: affinity+redis'",
    )
    args = parser.parse_args()
    if args.save and args.only:
        parser.error("--save keeps only the rows measured: run the whole bench to save")
    result = bench(args.sessions, args.turns, args.workers, args.only)
    print(report.affinity_table(result))
    if args.save:
        report.record(report.load(), "affinity", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
