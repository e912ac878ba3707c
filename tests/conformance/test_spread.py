"""New Claude Code sessions spread evenly over the GPU hosts, then stay pinned (issue #29):
the real pinned LiteLLM with the role's config (two backends: session affinity and
files/ccprov_spread.py on), two workers sharing a Redis, and one developer starting 8
sessions at once. Without the spread LiteLLM pins a session wherever simple-shuffle sends
it, and the developer's key pin sends the sessions after the first to that host."""

from __future__ import annotations

import collections
import hashlib
import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.fleet import Redis
from tests.support.gateway import launch_gateway, render_gateway_config
from tests.support.standin import free_port, start_standin

BACKEND_KEY = "sk-spread-vllm-key-0123456789abcdef"
DEVELOPER_KEY = "sk-spread-dev-0123456789abcdef0123"


def turn(url: str, session: str, n: int) -> int:
    body = {
        "model": "devstral",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": f"session {session} turn {n}"}],
    }
    request = urllib.request.Request(
        f"{url}/v1/messages",
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {DEVELOPER_KEY}",
            "X-Claude-Code-Session-Id": session,  # as Claude Code sends it
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        return response.status


def test_eight_new_sessions_of_one_developer_split_four_four_and_stay(
    tmp_path: Path, redis_server: Redis
) -> None:
    dumps = [tmp_path / "gpu1.jsonl", tmp_path / "gpu2.jsonl"]
    ports = [free_port(), free_port()]
    standins = [start_standin(p, BACKEND_KEY, dump=d) for p, d in zip(ports, dumps, strict=True)]
    gateway_dir = tmp_path / "gateway"
    gateway_dir.mkdir()
    config = render_gateway_config(
        gateway_dir,
        f"http://127.0.0.1:{ports[0]}",
        {
            "litellm_gateway_backends": [{"api_base": f"http://127.0.0.1:{p}/v1"} for p in ports],
            "litellm_gateway_redis_host": "127.0.0.1",
            "litellm_gateway_redis_port": redis_server.port,
            "litellm_gateway_redis_tls": False,
        },
    )
    proc, gateway = launch_gateway(
        gateway_dir,
        config,
        {
            "LITELLM_BACKEND_KEY_1": BACKEND_KEY,
            "LITELLM_BACKEND_KEY_2": BACKEND_KEY,
            "LITELLM_REDIS_PASSWORD": redis_server.password,
        },
        workers=2,
        developers={"dev": {"sha256": hashlib.sha256(DEVELOPER_KEY.encode()).hexdigest()}},
        ready_seconds=240,
    )
    try:
        sessions = [str(uuid.uuid4()) for _ in range(8)]
        with ThreadPoolExecutor(len(sessions)) as pool:
            for n in (1, 2):  # all first turns at once, then all second turns
                statuses = pool.map(turn, [gateway.url] * 8, sessions, [n] * 8)
                assert list(statuses) == [200] * 8
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for standin in standins:
            standin.kill()
            standin.wait(timeout=10)
    served: dict[str, set[int]] = collections.defaultdict(set)
    for host, dump in enumerate(dumps):
        for line in (dump.read_text() if dump.exists() else "").splitlines():
            text = json.dumps(json.loads(line)["body"])
            served.update({s: served[s] | {host} for s in sessions if f"session {s}" in text})
    assert sorted(served) == sorted(sessions)
    # Without ccprov_spread.py: 8/0, every session on the developer key's host.
    assert all(len(hosts) == 1 for hosts in served.values()), served  # pinned
    per_host = collections.Counter(next(iter(hosts)) for hosts in served.values())
    assert sorted(per_host.values()) == [4, 4], per_host
