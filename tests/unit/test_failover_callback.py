"""The gateway's failover repair (roles/litellm_gateway/files/ccprov_failover.py, issue #29):
a retry leaves out the hosts that already failed the request, and a host whose request
timed out cools down. The real gateway with a hung host: tests/conformance/test_failover.py."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import REPO, load_file

failover = load_file("ccprov_failover", REPO / "roles/litellm_gateway/files/ccprov_failover.py")

GPU1 = {"model_name": "devstral", "model_info": {"id": "backend-1"}}
GPU2 = {"model_name": "devstral", "model_info": {"id": "backend-2"}}


def retried_after(*failed: str, bucket: str = "litellm_metadata") -> dict[str, Any]:
    """Request kwargs as LiteLLM 1.106.2's router leaves them after failed attempts
    (router.py, log_retry: one previous_models breadcrumb per attempt)."""
    crumbs = [{"deployment_id": d, "exception_type": "Timeout"} for d in failed]
    return {bucket: {"previous_models": crumbs}}


def filtered(healthy: list[dict[str, Any]], kwargs: Any) -> list[dict[str, Any]]:
    return asyncio.run(
        failover.Failover().async_filter_deployments("devstral", healthy, None, kwargs)
    )


def test_a_retry_leaves_out_the_host_that_failed_it() -> None:
    assert filtered([GPU1, GPU2], retried_after("backend-1")) == [GPU2]
    assert filtered([GPU1, GPU2], retried_after("backend-2", bucket="metadata")) == [GPU1]


def test_a_first_attempt_or_an_odd_breadcrumb_keeps_every_host() -> None:
    for kwargs in (None, {}, {"litellm_metadata": {"previous_models": "x"}}, retried_after("gone")):
        assert filtered([GPU1, GPU2], kwargs) == [GPU1, GPU2]


def test_when_every_host_failed_the_request_they_all_stay() -> None:
    # Nothing else to send it to: LiteLLM's own retry and cooldown decide.
    assert filtered([GPU1, GPU2], retried_after("backend-1", "backend-2")) == [GPU1, GPU2]


class Timeout(Exception):
    status_code = 408


class APIConnectionError(Exception):
    """What LiteLLM raises for a read timeout mid-stream (no status code)."""


class Cooldowns:
    def __init__(self) -> None:
        self.added: list[tuple[str, int, float]] = []

    def add_deployment_to_cooldown(
        self, model_id, original_exception, exception_status, cooldown_time
    ):
        self.added.append((model_id, exception_status, cooldown_time))


class Router:
    cooldown_time = 30.0

    def __init__(self, group: list[dict[str, Any]]) -> None:
        self.group, self.cooldown_cache = group, Cooldowns()

    def get_model_group(self, id: str) -> list[dict[str, Any]]:  # LiteLLM's name
        return self.group


def failed(exception: Exception, router: Router, monkeypatch, model_id: str = "backend-1") -> None:
    monkeypatch.setattr(failover, "_router", lambda: router)
    kwargs = {"exception": exception, "litellm_params": {"model_info": {"id": model_id}}}
    asyncio.run(failover.Failover().async_log_failure_event(kwargs, None, None, None))


def test_a_host_that_timed_out_cools_down_for_the_routers_time(monkeypatch) -> None:
    router = Router([GPU1, GPU2])
    failed(APIConnectionError("Timeout on reading data from socket"), router, monkeypatch)
    failed(Timeout("first token"), router, monkeypatch, "backend-2")
    assert router.cooldown_cache.added == [("backend-1", 408, 30.0), ("backend-2", 408, 30.0)]


def test_other_failures_and_a_lone_host_are_left_to_litellm(monkeypatch) -> None:
    router = Router([GPU1, GPU2])
    failed(APIConnectionError("Connection refused"), router, monkeypatch)
    lone = Router([GPU1])
    failed(Timeout("first token"), lone, monkeypatch)
    assert router.cooldown_cache.added == lone.cooldown_cache.added == []


def test_a_failure_it_cannot_read_never_raises(monkeypatch) -> None:
    monkeypatch.setattr(failover, "_router", lambda: None)
    asyncio.run(
        failover.Failover().async_log_failure_event({"exception": Timeout()}, None, None, None)
    )
    asyncio.run(failover.Failover().async_log_failure_event(None, None, None, None))
