"""New sessions spread evenly over the GPU hosts (roles/litellm_gateway/files/ccprov_spread.py,
issue #29): a session without a pin to a healthy host goes to the host with the fewest live
session pins, and the claim is atomic, in one worker's memory or in the shared Redis (its
Lua script run by a real redis-server). LiteLLM's side is a stand-in here with the methods
of its DeploymentAffinityCheck (1.106.2); the real gateway: tests/conformance/test_spread.py."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from tests.conftest import REPO, load_file
from tests.support.fleet import Redis

spread = load_file("ccprov_spread", REPO / "roles/litellm_gateway/files/ccprov_spread.py")

HOSTS = [{"model_name": "devstral", "model_info": {"id": f"gpu-{i}"}} for i in range(1, 5)]
PREFIX = "deployment_affinity:v1"


class Memory:
    """LiteLLM's InMemoryCache as the callback uses it (caching/in_memory_cache.py)."""

    def __init__(self) -> None:
        self.cache_dict: dict[str, Any] = {}
        self.ttl_dict: dict[str, float] = {}

    def get_cache(self, key: str) -> Any:
        if key in self.ttl_dict and time.monotonic() > self.ttl_dict[key]:
            self.delete_cache(key)
        return self.cache_dict.get(key)

    def set_cache(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.cache_dict[key] = value
        if ttl is not None:
            self.ttl_dict[key] = time.monotonic() + ttl

    def delete_cache(self, key: str) -> None:
        self.cache_dict.pop(key, None)
        self.ttl_dict.pop(key, None)


class RedisCli:
    """LiteLLM's RedisCache.async_register_script (caching/redis_cache.py:1068): keys get
    the namespace, the script runs in the server (here through redis-cli)."""

    def __init__(self, server: Redis | None, namespace: str | None = None) -> None:
        self.server, self.namespace = server, namespace

    def async_register_script(self, script: str) -> Any:
        async def run(keys: Sequence[str], args: Sequence[Any]) -> Any:
            if self.server is None:
                raise ConnectionError("Redis is down")
            names = [f"{self.namespace}:{k}" if self.namespace else k for k in keys]
            proc = await asyncio.create_subprocess_exec(
                *self.command("EVAL", script, str(len(names)), *names, *map(str, args)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            out, err = await proc.communicate()
            if proc.returncode or out.startswith(b"ERR"):
                raise RuntimeError((out + err).decode())
            return out.strip()

        return run

    def command(self, *args: str) -> list[str]:
        assert self.server is not None
        auth = ["--no-auth-warning", "-a", self.server.password]
        return ["redis-cli", "-p", str(self.server.port), *auth, *args]


class Cache:
    def __init__(self, redis_cache: RedisCli | None = None) -> None:
        self.in_memory_cache = Memory()
        self.redis_cache = redis_cache


class Affinity:
    """DeploymentAffinityCheck's methods the callback calls, as 1.106.2 has them
    (router_utils/pre_call_checks/deployment_affinity_check.py:207-305)."""

    CACHE_KEY_PREFIX = PREFIX
    is_priority_group = None

    def __init__(self, cache: Cache, session_affinity: bool = True) -> None:
        self.cache, self.ttl_seconds, self.session_affinity = cache, 3600, session_affinity

    def _get_effective_flags(self, model: str) -> tuple[bool, bool, bool]:
        return True, False, self.session_affinity

    @staticmethod
    def _get_stable_model_map_key_from_deployments(healthy: list[dict[str, Any]]) -> str | None:
        names = {d.get("model_name") for d in healthy}
        return names.pop() if len(names) == 1 else None

    @staticmethod
    def _get_marker_session_affinity_ttl(request_kwargs: dict[str, Any]) -> int | None:
        return None

    @staticmethod
    def _get_session_id_from_request_kwargs(request_kwargs: dict[str, Any]) -> str | None:
        found = request_kwargs.get("metadata", {}).get("session_id")
        return None if found is None else str(found)

    @staticmethod
    def get_user_key_from_request_kwargs(request_kwargs: dict[str, Any]) -> str | None:
        found = request_kwargs.get("metadata", {}).get("user_api_key_hash")
        return None if found is None else str(found)

    @classmethod
    def get_session_affinity_cache_key(
        cls, model_group: str, session_id: str, user_key: str | None
    ) -> str:
        hashed = hashlib.sha256(user_key.encode()).hexdigest() if user_key else "unscoped"
        return f"{cls.CACHE_KEY_PREFIX}:session:{model_group}:{hashed}:{session_id}"


def request(session: str | None, key: str = "dev-1") -> dict[str, Any]:
    metadata: dict[str, Any] = {"user_api_key_hash": key}
    if session is not None:
        metadata["session_id"] = session
    return {"metadata": metadata}


def session_key(session: str, key: str = "dev-1", group: str = "devstral") -> str:
    return Affinity.get_session_affinity_cache_key(group, session, key)


def callback(affinity: Affinity | None) -> Any:
    cb = spread.Spread()
    cb.find_affinity = lambda: affinity
    return cb


def picked(cb: Any, healthy: list[dict[str, Any]], kwargs: Any) -> list[str]:
    out = asyncio.run(cb.async_filter_deployments("devstral", healthy, None, kwargs))
    return [d["model_info"]["id"] for d in out]


def ids(hosts: list[dict[str, Any]]) -> list[str]:
    return [d["model_info"]["id"] for d in hosts]


def test_a_new_session_goes_to_the_host_with_the_fewest_pins_and_is_pinned_there() -> None:
    affinity = Affinity(Cache())
    memory = affinity.cache.in_memory_cache
    for i, host in enumerate(["gpu-1", "gpu-1", "gpu-2", "gpu-3", "gpu-3"]):
        memory.set_cache(session_key(f"old-{i}"), {"model_id": host}, ttl=60)
    memory.set_cache(f"{PREFIX}:devstral:keyhash", {"model_id": "gpu-2"})  # a key pin: not counted
    memory.set_cache(session_key("other", group="small"), {"model_id": "gpu-2"})
    cb = callback(affinity)
    assert picked(cb, HOSTS[:3], request("new")) == ["gpu-2"]  # gpu-4 (no pins) is not healthy
    assert memory.get_cache(session_key("new")) == {"model_id": "gpu-2"}
    # Its next turns: the pin stands, LiteLLM's own filter applies it (the list unchanged).
    assert picked(cb, HOSTS[:3], request("new")) == ids(HOSTS[:3])


def test_sessions_fill_the_hosts_evenly_and_ties_go_either_way() -> None:
    firsts = set()
    for _ in range(30):
        affinity = Affinity(Cache())
        cb = callback(affinity)
        chosen = [picked(cb, HOSTS, request(f"s{i}"))[0] for i in range(20)]
        assert sorted(collections.Counter(chosen).values()) == [5, 5, 5, 5]
        firsts.add(chosen[0])
    assert len(firsts) > 1  # 30 first picks on one host by chance: 4 ** -29


def test_a_pin_to_a_host_that_is_not_healthy_moves_to_the_least_pinned_healthy_host() -> None:
    affinity = Affinity(Cache())
    memory = affinity.cache.in_memory_cache
    memory.set_cache(session_key("a"), {"model_id": "gpu-1"}, ttl=60)
    memory.set_cache(session_key("b"), {"model_id": "gpu-2"}, ttl=60)
    memory.set_cache(session_key("moving"), {"model_id": "gpu-4"}, ttl=60)
    # gpu-4 cooling down (or failed this request): the session moves, for good.
    assert picked(callback(affinity), HOSTS[:3], request("moving")) == ["gpu-3"]
    assert memory.get_cache(session_key("moving")) == {"model_id": "gpu-3"}


def test_nothing_changes_without_a_session_id_session_affinity_or_several_hosts() -> None:
    memory_only = Affinity(Cache())
    assert picked(callback(memory_only), HOSTS, request(None)) == ids(HOSTS)
    assert picked(callback(memory_only), HOSTS[:1], request("s")) == ["gpu-1"]
    assert picked(callback(None), HOSTS, request("s")) == ids(HOSTS)
    off = Affinity(Cache(), session_affinity=False)
    assert picked(callback(off), HOSTS, request("s")) == ids(HOSTS)
    assert memory_only.cache.in_memory_cache.cache_dict == {}
    mixed = [HOSTS[0], {**HOSTS[1], "model_name": "other"}]  # LiteLLM pins no mixed group
    assert picked(callback(memory_only), mixed, request("s")) == ids(mixed)


def test_an_error_leaves_the_hosts_unchanged() -> None:
    cb = spread.Spread()

    def broken() -> None:
        raise RuntimeError("no router")

    cb.find_affinity = broken
    assert picked(cb, HOSTS, request("s")) == ids(HOSTS)
    # Outside LiteLLM (these tests) there is no affinity check to find: nothing to do.
    assert picked(spread.Spread(), HOSTS, request("s")) == ids(HOSTS)


def test_redis_down_falls_back_to_the_workers_own_pins() -> None:
    affinity = Affinity(Cache(RedisCli(None)))
    chosen = [picked(callback(affinity), HOSTS, request(f"s{i}"))[0] for i in range(8)]
    assert sorted(collections.Counter(chosen).values()) == [2, 2, 2, 2]


def test_the_redis_claim_counts_the_groups_session_pins_and_keeps_a_healthy_pin(
    redis_server: Redis,
) -> None:
    redis_server.cli("FLUSHALL")
    cache = Cache(RedisCli(redis_server, namespace="ns"))
    affinity = Affinity(cache)
    pins = {"a": "gpu-1", "b": "gpu-1", "c": "gpu-2", "d": "gpu-2", "e": "gpu-3"}
    for session, host in pins.items():  # as LiteLLM's claim script writes them
        redis_server.cli("SET", f"ns:{session_key(session)}", json.dumps({"model_id": host}))
    redis_server.cli("SET", f"ns:{PREFIX}:devstral:keyhash", json.dumps({"model_id": "gpu-4"}))
    redis_server.cli("SET", f"ns:{session_key('x', group='small')}", '{"model_id": "gpu-4"}')
    redis_server.cli("SET", f"{session_key('y')}", '{"model_id": "gpu-4"}')  # other namespace
    assert picked(callback(affinity), HOSTS, request("new")) == ["gpu-4"]
    stored = redis_server.cli("GET", f"ns:{session_key('new')}").strip()
    assert stored == json.dumps({"model_id": "gpu-4"})  # LiteLLM's refresh matches it
    assert 3590 <= int(redis_server.cli("TTL", f"ns:{session_key('new')}")) <= 3600
    # Another worker (empty memory) finds that pin in Redis and keeps it.
    other = Affinity(Cache(RedisCli(redis_server, namespace="ns")))
    assert picked(callback(other), HOSTS, request("new")) == ["gpu-4"]
    # gpu-1 gone: its session moves to the least-pinned host left (gpu-2: 2 pins, gpu-3: 1).
    assert picked(callback(other), HOSTS[1:3], request("a")) == ["gpu-3"]


def test_concurrent_redis_claims_from_many_workers_split_evenly(redis_server: Redis) -> None:
    redis_server.cli("FLUSHALL")

    async def claim_all() -> list[list[str]]:
        # 20 sessions at once, each from its own "worker" (memory), as 4 uvicorn workers
        # would: only the script's count-and-claim in one step gives 5/5/5/5.
        calls = [
            callback(Affinity(Cache(RedisCli(redis_server)))).async_filter_deployments(
                "devstral", HOSTS, None, request(f"s{i}", key=f"dev-{i}")
            )
            for i in range(20)
        ]
        return [ids(out) for out in await asyncio.gather(*calls)]

    chosen = [out[0] for out in asyncio.run(claim_all())]
    assert sorted(collections.Counter(chosen).values()) == [5, 5, 5, 5]
    assert len(redis_server.cli("--scan", "--pattern", f"{PREFIX}:session:*").split()) == 20
