"""New Claude Code sessions spread evenly over the GPU hosts, then stay pinned (issue #29).

A LiteLLM callback (`litellm_settings.callbacks: [..., ccprov_failover.failover,
ccprov_spread.spread]`, loaded from the config directory like ccprov_failover.py), on with
several backends; it acts only where LiteLLM's own session affinity is on. LiteLLM 1.106.2
pins a session to the host its first request happened to go to (simple-shuffle), so 20
sessions over 4 hosts landed 7/4/5/4 (bench/README.md section 7); none of its strategies
counts pinned sessions.

async_filter_deployments runs for every attempt, after the cooldown filter and
ccprov_failover's filter (which drops the hosts that already failed this request) and
before LiteLLM's own affinity filter: router.py:9130 walks litellm.callbacks in order, and
the proxy's load_config adds litellm_settings.callbacks (proxy/proxy_server.py:6661)
before it creates the Router (:7251), which appends DeploymentAffinityCheck
(router.py:2521). tests/conformance/test_spread.py shows it: 4/4, not the key pin's 8/0.
When the request carries a session id whose pin is missing or names a host not in the
healthy list, it pins the session to the healthy host with the fewest live session pins in
the model group (ties at random) and returns only that host; otherwise it returns the list
unchanged and LiteLLM's filter applies the pin (or the key's pin, for clients without a
session id). The facts come from LiteLLM's DeploymentAffinityCheck (router_utils/
pre_call_checks/deployment_affinity_check.py): its cache, TTL, session id, cache key and
pin value {"model_id": ...}; LiteLLM's pre-call hook then keeps refreshing the pin.

Count and claim are one step, as 20 sessions start within 2 s over 4 workers: with the
router's Redis, one Lua script; without it, the worker's memory with no await in between.
Without Redis, or while it is down, each worker counts its own pins (as LiteLLM's claim
falls back to them). Any other error leaves the list unchanged: spreading never fails a
request.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # the unit tests, which run without LiteLLM
    _Base = object

# KEYS[1]: the session's pin; KEYS[2]: a SCAN pattern for the group's session pins (both
# namespaced by LiteLLM's RedisCache.async_register_script). ARGV[1]: [[id, pin], ...], the
# healthy hosts in random order (the tie-break) with each one's pin value as LiteLLM's
# claim script writes it (json.dumps, so its refresh-on-equal still matches); ARGV[2]: TTL.
# Returns the pinned id. SCAN may repeat a key: each one counts once.
CLAIM_LEAST_PINNED = """
local hosts = cjson.decode(ARGV[1])
local count, pin_of = {}, {}
for _, host in ipairs(hosts) do count[host[1]] = 0; pin_of[host[1]] = host[2] end
local function pinned(raw)
  if not raw then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if not ok then return raw end
  if type(value) == 'table' then return value.model_id end
  if type(value) == 'string' then return value end
  return nil
end
local current = pinned(redis.call('GET', KEYS[1]))
if current and count[current] then return current end
local seen, cursor = {}, '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', KEYS[2], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if not seen[key] and key ~= KEYS[1] then
      seen[key] = true
      local id = pinned(redis.call('GET', key))
      if id and count[id] then count[id] = count[id] + 1 end
    end
  end
until cursor == '0'
local best
for _, host in ipairs(hosts) do
  if best == nil or count[host[1]] < count[best] then best = host[1] end
end
redis.call('SET', KEYS[1], pin_of[best], 'EX', ARGV[2])
return best
"""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def deployment_id(deployment: Any) -> str | None:
    found = _mapping(_mapping(deployment).get("model_info")).get("id")
    return None if found is None else str(found)


def pinned_id(stored: Any) -> str | None:
    """The host a stored pin names: {"model_id": ...}, or a bare id (older writers)."""
    if isinstance(stored, Mapping):
        found = stored.get("model_id")
        return None if found is None else str(found)
    return stored if isinstance(stored, str) else None


def pin_value(model_id: str) -> dict[str, str]:
    """LiteLLM's pin shape (DeploymentAffinityCacheValue)."""
    return {"model_id": model_id}


def glob_escape(text: str) -> str:
    """TEXT matched literally by Redis's SCAN MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def least_pinned(ids: Sequence[str], pinned: Sequence[str | None]) -> str:
    """The id in IDS (in their order: shuffle them for random ties) with the fewest pins."""
    count = dict.fromkeys(ids, 0)
    for found in pinned:
        if found in count:
            count[found] += 1
    return min(ids, key=lambda i: count[i])


def claim_in_memory(memory: Any, key: str, prefix: str, ids: Sequence[str], ttl: float) -> str:
    """One worker's claim (LiteLLM's InMemoryCache): no await, so atomic in its loop."""
    current = pinned_id(memory.get_cache(key))
    if current in ids:
        return str(current)
    # get_cache drops expired pins; list() because it may delete while we read.
    others = [k for k in list(memory.cache_dict) if k.startswith(prefix) and k != key]
    chosen = least_pinned(ids, [pinned_id(memory.get_cache(k)) for k in others])
    memory.delete_cache(key)  # set_cache keeps a live key's expiry (affinity_cache.py:53)
    memory.set_cache(key, pin_value(chosen), ttl=ttl)
    return chosen


async def claim_in_redis(
    redis_cache: Any, key: str, prefix: str, ids: Sequence[str], ttl: int
) -> str:
    """All workers' claim: LiteLLM's RedisCache runs the script with its namespace."""
    script = redis_cache.async_register_script(CLAIM_LEAST_PINNED)
    hosts = [[i, json.dumps(pin_value(i))] for i in ids]
    raw = await script(keys=(key, glob_escape(prefix) + "*"), args=(json.dumps(hosts), int(ttl)))
    chosen = raw.decode() if isinstance(raw, bytes) else raw
    if chosen not in ids:
        raise ValueError(f"the spread script returned {chosen!r}")
    return str(chosen)


def affinity_check() -> Any:
    """LiteLLM's DeploymentAffinityCheck, which the router made for optional_pre_call_checks
    and added to its optional_callbacks and litellm.callbacks (router.py:2511-2521): the
    proxy's router's own first; None without one."""
    try:
        import litellm
        from litellm.router_utils.pre_call_checks.deployment_affinity_check import (
            DeploymentAffinityCheck,
        )
    except ImportError:
        return None
    mine = getattr(_router(), "optional_callbacks", None) or []
    found = (c for c in [*mine, *litellm.callbacks] if isinstance(c, DeploymentAffinityCheck))
    return next(found, None)


def _router() -> Any:
    """The proxy's router (litellm.proxy.proxy_server.llm_router, set at its start)."""
    try:
        from litellm.proxy import proxy_server
    except ImportError:
        return None
    return getattr(proxy_server, "llm_router", None)


class Spread(_Base):  # type: ignore[misc]  # LiteLLM's CustomLogger (untyped here)
    """See the module's docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.find_affinity = affinity_check

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list[Any],
        messages: Any,
        request_kwargs: Any = None,
        parent_otel_span: Any = None,
    ) -> list[Any]:
        try:
            return await self.spread(model, healthy_deployments, dict(_mapping(request_kwargs)))
        except Exception:  # never fail a request over spreading
            return healthy_deployments

    async def spread(self, model: str, healthy: list[Any], kwargs: dict[str, Any]) -> list[Any]:
        affinity = self.find_affinity()
        ids = [i for i in map(deployment_id, healthy) if i is not None]
        if affinity is None or len(healthy) < 2 or len(ids) < len(healthy):
            return healthy
        # Where LiteLLM's own filter would not pin either (deployment_affinity_check.py:370-403).
        if kwargs.get("_target_order") is not None:
            return healthy
        if affinity.is_priority_group is not None and affinity.is_priority_group(model):
            return healthy
        group = affinity._get_stable_model_map_key_from_deployments(healthy)
        marker_ttl = affinity._get_marker_session_affinity_ttl(request_kwargs=kwargs)
        session_on = affinity._get_effective_flags(model)[2] or marker_ttl is not None
        session_id = affinity._get_session_id_from_request_kwargs(request_kwargs=kwargs)
        if group is None or not session_on or session_id is None:
            return healthy
        user_key = affinity.get_user_key_from_request_kwargs(request_kwargs=kwargs)
        key = affinity.get_session_affinity_cache_key(
            model_group=group, session_id=session_id, user_key=user_key
        )
        memory = affinity.cache.in_memory_cache
        if pinned_id(memory.get_cache(key)) in ids:
            return healthy  # pinned to a healthy host: LiteLLM's filter sends it there
        prefix = f"{affinity.CACHE_KEY_PREFIX}:session:{group}:"
        ttl = marker_ttl if marker_ttl is not None else affinity.ttl_seconds
        order = random.sample(ids, len(ids))
        redis_cache = affinity.cache.redis_cache
        chosen = None
        if redis_cache is not None:
            # Redis down: this worker's pins, as LiteLLM falls back (affinity_cache.py:125-127).
            with contextlib.suppress(Exception):
                chosen = await claim_in_redis(redis_cache, key, prefix, order, ttl)
        if chosen is None:
            chosen = claim_in_memory(memory, key, prefix, order, ttl)
        else:
            memory.delete_cache(key)
            memory.set_cache(key, pin_value(chosen), ttl=ttl)
        return [d for d in healthy if deployment_id(d) == chosen]


spread = Spread()
"""The instance litellm_settings.callbacks names (ccprov_spread.spread)."""
