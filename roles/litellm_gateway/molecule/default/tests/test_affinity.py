"""Two vLLM hosts behind one gateway with several workers (issue #19): a Claude Code
session's turns stay on one backend, whose prefix cache holds the conversation; when that
backend stops, the session moves on with no error the client sees; a developer's rpm limit
holds across workers. Shared state: the role's Redis on loopback."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
import uuid

import pytest

BACKENDS = (8000, 8001)
ALICE = "sk-ccprov-alice-molecule-0123456789"
DANA = "sk-ccprov-dana-molecule-0123456789"  # rpm: 4 (molecule.yml)
MASTER = "sk-master-molecule-0123456789abcdef"
# The role's default Redis password (vars/main.yml, __litellm_gateway_redis_password).
REDIS_PASSWORD = hashlib.sha256(f"ccprov-redis:{MASTER}".encode()).hexdigest()


def _served(host, port: int) -> int:
    """Requests a stand-in answered (its vllm:request_success_total)."""
    metrics = host.check_output(f"curl -sf http://127.0.0.1:{port}/metrics")
    match = re.search(r"^vllm:request_success_total\{[^}]*\} (\d+)", metrics, re.M)
    assert match, metrics
    return int(match.group(1))


def _turn(host, session: str, key: str = ALICE) -> int:
    """One Claude Code-shaped turn (its session header), on a new connection each time
    so the turns land on different workers."""
    body = json.dumps(
        {"model": "devstral", "max_tokens": 8, "messages": [{"role": "user", "content": "Say OK"}]}
    )
    return int(
        host.check_output(
            "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:4000/v1/messages "
            f"-H 'Authorization: Bearer {key}' -H 'anthropic-version: 2023-06-01' "
            f"-H 'X-Claude-Code-Session-Id: {session}' -H 'Content-Type: application/json' "
            f"-d '{body}'"
        )
    )


def test_redis_holds_the_shared_state_on_loopback(host) -> None:
    assert host.service("redis-server").is_running
    assert host.socket("tcp://127.0.0.1:6379").is_listening
    assert not host.socket("tcp://0.0.0.0:6379").is_listening
    conf = host.file("/etc/redis/redis.conf")
    assert conf.mode == 0o640 and conf.group == "redis"
    config = host.file("/etc/litellm/config.yaml").content_string
    assert "session_affinity" in config and "os.environ/LITELLM_REDIS_PASSWORD" in config
    assert int(host.check_output("pgrep -u litellm -c -f multiprocessing.spawn || true") or 0) >= 1


def _redis(host, *command: str) -> str:
    """redis-cli on the gateway with LiteLLM's password (from the environment, not argv)."""
    argv = " ".join(shlex.quote(word) for word in command)
    return host.run(
        f"REDISCLI_AUTH={REDIS_PASSWORD} timeout 5 redis-cli -p 6379 {argv} 2>&1"
    ).stdout.strip()


@pytest.mark.parametrize(
    "command",
    [
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("KEYS", "*"),
        ("CONFIG", "GET", "maxmemory"),
        ("ACL", "LIST"),
        ("CLIENT", "LIST"),
        ("MIGRATE", "192.0.2.1", "6379", "k", "0", "1"),
        ("FUNCTION", "LIST"),
        ("SCRIPT", "FLUSH"),
        ("MODULE", "LIST"),
        ("REPLICAOF", "192.0.2.1", "6379"),
        ("EVAL", "return redis.call('FLUSHALL')", "0"),
    ],
)
def test_the_redis_password_cannot_administer_redis(host, command) -> None:
    """A leaked password reads and writes pins and counters, nothing more (ACL, not
    renames: redis.conf's one user)."""
    answer = _redis(host, *command)
    assert answer.startswith(("NOPERM", "ERR The user executing the script can't run")), answer


def test_the_redis_password_runs_what_litellm_needs(host) -> None:
    assert _redis(host, "SET", "ccprov-test", "1", "EX", "60") == "OK"
    assert _redis(host, "EVAL", "return redis.call('GET', KEYS[1])", "1", "ccprov-test") == "1"
    assert _redis(host, "PING") == "PONG"


def test_a_sessions_turns_stay_on_one_backend(host) -> None:
    before = {port: _served(host, port) for port in BACKENDS}
    session = str(uuid.uuid4())
    assert [_turn(host, session) for _ in range(6)] == [200] * 6
    delta = {port: _served(host, port) - before[port] for port in BACKENDS}
    assert sorted(delta.values()) == [0, 6], delta


def test_a_stopped_backend_moves_its_session_without_an_error(host) -> None:
    session = str(uuid.uuid4())
    before = {port: _served(host, port) for port in BACKENDS}
    assert _turn(host, session) == 200
    pinned = next(port for port in BACKENDS if _served(host, port) > before[port])
    other = next(port for port in BACKENDS if port != pinned)
    host.check_output(f"systemctl stop standin-vllm@{pinned}")
    try:
        moved = _served(host, other)
        assert [_turn(host, session) for _ in range(3)] == [200] * 3
        assert _served(host, other) - moved == 3
    finally:
        host.check_output(f"systemctl start standin-vllm@{pinned}")
        for _ in range(60):
            if host.run(f"curl -sf http://127.0.0.1:{pinned}/health").rc == 0:
                break
            time.sleep(1)


def test_rpm_limit_holds_across_workers(host) -> None:
    """4 a minute: the 5th is refused, whichever worker takes it; alice is still served."""
    statuses = [_turn(host, str(uuid.uuid4()), key=DANA) for _ in range(5)]
    assert statuses[:4] == [200] * 4 and statuses[4] == 429, statuses
    assert _turn(host, str(uuid.uuid4())) == 200
