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


usage = load_file("ccprov_usage", REPO / "roles/litellm_gateway/files/ccprov_usage.py")

LIMIT = 0.05  # the idle limit here, in seconds
MESSAGE_START = b'event: message_start\ndata: {"type": "message_start", "message": {}}\n\n'
TEXT = b'event: content_block_delta\ndata: {"type": "content_block_delta"}\n\n'


def served_by(model_id: str, limit: object, bucket: str = "litellm_metadata") -> dict[str, Any]:
    """request_data as the proxy holds it once the router picked a deployment (router.py,
    _update_kwargs_with_deployment writes its model_info into the metadata)."""
    info = {"id": model_id, failover.IDLE_KEY: limit}
    return {bucket: {"model_info": info, "api_base": "http://gpu1:8000/v1"}}


def test_the_serving_deployment_and_its_idle_limit_come_from_the_request() -> None:
    assert failover.chosen_deployment(served_by("backend-2", 4)) == ("backend-2", 4.0)
    assert failover.chosen_deployment(served_by("backend-1", 2, "metadata")) == ("backend-1", 2.0)
    for odd in (None, {}, served_by("backend-1", 0), served_by("backend-1", "4")):
        assert failover.chosen_deployment(odd)[1] == 0.0


def test_only_the_opening_events_say_the_backend_has_not_answered_yet() -> None:
    assert failover.no_output_yet(MESSAGE_START)
    assert failover.no_output_yet(MESSAGE_START.decode() + "event: ping\ndata: {}\n\n")
    assert failover.no_output_yet({"type": "message_start"})
    assert failover.no_output_yet(b'data: {"type": "message_start"}\n\n')
    assert not failover.no_output_yet(MESSAGE_START + TEXT)  # both in one read
    assert not failover.no_output_yet(TEXT)
    assert not failover.no_output_yet(b'"partial": "frame"')
    assert not failover.no_output_yet(object())  # a chat completion chunk
    assert not failover.no_output_yet(b"")


class Upstream:
    """A backend's stream: CHUNKS, then a hang (a host stopped dead) unless it ends."""

    def __init__(self, *chunks: Any, pause_before: int = -1, ends: bool = False) -> None:
        self.chunks, self.pause_before, self.ends, self.closed = (
            list(chunks),
            pause_before,
            ends,
            False,
        )

    async def _chunks(self):
        for index, chunk in enumerate(self.chunks):
            if index == self.pause_before:
                await asyncio.sleep(4 * LIMIT)  # before the first token: the first-token limit's
            yield chunk
        if not self.ends:
            await asyncio.Event().wait()

    def __aiter__(self):
        self.iterator = self._chunks()
        return self.iterator

    async def aclose(self) -> None:
        self.closed = True


async def drain(stream: Any) -> tuple[list[Any], BaseException | None]:
    got = []
    try:
        async for chunk in stream:
            got.append(chunk)
    except Exception as exc:
        return got, exc
    return got, None


def hook(upstream: Upstream, request_data: dict[str, Any]) -> tuple[list[Any], Any]:
    stream = failover.Failover().async_post_call_streaming_iterator_hook(
        None, upstream, request_data
    )
    return asyncio.run(drain(stream))


def test_a_stream_that_goes_idle_mid_answer_ends_and_its_host_cools_down(monkeypatch) -> None:
    router = Router([GPU1, GPU2])
    monkeypatch.setattr(failover, "_router", lambda: router)
    upstream = Upstream(MESSAGE_START, TEXT, TEXT)
    got, error = hook(upstream, served_by("backend-1", LIMIT))
    assert got == [MESSAGE_START, TEXT, TEXT]
    assert isinstance(error, failover.StreamIdleTimeout), error
    assert upstream.closed
    assert router.cooldown_cache.added == [("backend-1", 408, 30.0)]
    # The usage log's line for it (ccprov_usage.py, the proxy's failure hook).
    line = usage.record({"exception": error}, None, None, ok=False)
    assert (line["status"], line["error"]) == (504, "StreamIdleTimeout")


def test_the_wait_for_the_first_token_is_not_the_idle_limits(monkeypatch) -> None:
    """LiteLLM's chat_completions route sends message_start before it reads the backend:
    the prefill after it may take longer than the idle limit."""
    router = Router([GPU1, GPU2])
    monkeypatch.setattr(failover, "_router", lambda: router)
    upstream = Upstream(MESSAGE_START, TEXT, TEXT, pause_before=1, ends=True)
    assert hook(upstream, served_by("backend-1", LIMIT)) == ([MESSAGE_START, TEXT, TEXT], None)
    assert router.cooldown_cache.added == []


def test_without_an_idle_limit_the_stream_passes_untouched(monkeypatch) -> None:
    router = Router([GPU1, GPU2])
    monkeypatch.setattr(failover, "_router", lambda: router)
    slow = Upstream(MESSAGE_START, TEXT, TEXT, pause_before=2, ends=True)
    assert hook(slow, served_by("backend-1", 0)) == ([MESSAGE_START, TEXT, TEXT], None)
    assert hook(Upstream(TEXT, ends=True), {}) == ([TEXT], None)
    assert router.cooldown_cache.added == []


def test_the_backends_own_timeout_stays_litellms() -> None:
    """A read timeout from the upstream itself (the first-token limit) is not renamed."""

    class ReadTimeout(TimeoutError):
        pass

    async def timing_out():
        yield TEXT
        raise ReadTimeout("sock_read")

    class Stream:
        def __aiter__(self):
            return timing_out()

    stream = failover.idle_guarded(Stream(), 10.0, lambda exc: None)
    got, error = asyncio.run(drain(stream))
    assert got == [TEXT] and type(error) is ReadTimeout
