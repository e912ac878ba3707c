"""A hung or failing GPU host costs a turn one time limit, not several (issue #29 item 4).

A LiteLLM callback (`litellm_settings.callbacks: [ccprov_failover.failover]`, loaded from
the config directory like ccprov_output_cap.py), on only when the model has more than one
backend. It mends two gaps in LiteLLM 1.106.2's router, both seen with one vLLM host
stopped dead (SIGSTOP: it accepts connections, never answers):

- A retry goes back to the host that just failed this request. The router's cooldown is
  set by a failure callback (router.py, deployment_callback_on_failure) that runs as a
  task after the retry has already picked its host, and session affinity sends the retry
  to the session's host, the hung one: a turn cost the stream timeout two or three times.
  async_filter_deployments (router.py, async_callback_filter_deployments, called for every
  attempt before affinity's own filter) drops the hosts that already failed this request,
  read from the retry breadcrumbs the router keeps in its metadata (router.py, log_retry:
  `previous_models[].deployment_id`), as long as another host is left.
- A stream that times out mid-way never cools its host down: LiteLLM maps the read timeout
  to an APIConnectionError text, for which router_utils/cooldown_handlers.py
  (_is_cooldown_required) skips the cooldown, so the client's retry, and every other
  session pinned there, went back to the hung host and waited a second time.
  async_log_failure_event puts a host whose request timed out in the router's own
  cooldown (router_utils/cooldown_cache.py, add_deployment_to_cooldown) for the router's
  cooldown_time, as a first-token timeout (408) already does.

And it adds a stream-idle limit apart from the first-token one. LiteLLM has one limit,
litellm_params.stream_timeout (the HTTP read timeout), for the first token (a long prompt's
prefill) and every later gap alike, so a turn in flight when its host hangs waited the
first-token limit. With `model_info.ccprov_stream_idle_timeout` on the deployment that
serves it (plugins/filter/litellm_config.py), async_post_call_streaming_iterator_hook
(proxy/common_request_processing.py:3977, the stream every streamed answer goes through)
lets each chunk after the backend's first output wait at most that long; past it, the
stream's upstream is closed, the host cools down, and StreamIdleTimeout ends the stream:
the proxy sends the client an error event and its failure hook logs the request
(ccprov_usage.py: "504 StreamIdleTimeout", the backend named). The cooldown is set before
the client sees that event, so Claude Code's immediate retry cannot race LiteLLM's own
failure callbacks (tasks) back to the hung host. Defining the hook makes LiteLLM pass every
stream through it (proxy/utils.py:3166, callback_capabilities): one more generator layer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # the unit tests, which run without LiteLLM
    _Base = object


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def deployment_id(deployment: Any) -> str | None:
    found = _mapping(_mapping(deployment).get("model_info")).get("id")
    return found if isinstance(found, str) else None


def failed_here(request_kwargs: Any) -> set[str]:
    """The deployments that already failed this request: the router's retry breadcrumbs."""
    kwargs = _mapping(request_kwargs)
    failed: set[str] = set()
    for bucket in ("litellm_metadata", "metadata"):
        crumbs = _mapping(kwargs.get(bucket)).get("previous_models")
        if isinstance(crumbs, Iterable) and not isinstance(crumbs, str | bytes | Mapping):
            for crumb in crumbs:
                found = _mapping(crumb).get("deployment_id")
                if isinstance(found, str):
                    failed.add(found)
    return failed


def elsewhere(healthy: list[Any], request_kwargs: Any) -> list[Any]:
    """HEALTHY without the deployments that failed this request, unless none would be left."""
    failed = failed_here(request_kwargs)
    if not failed:
        return healthy
    left = [d for d in healthy if deployment_id(d) not in failed]
    return left or healthy


IDLE_KEY = "ccprov_stream_idle_timeout"
"""The model_info key with a deployment's idle limit in seconds (absent: no idle limit)."""


class StreamIdleTimeout(TimeoutError):
    """A stream went longer than its idle limit without a chunk. 504: the gateway gave up
    waiting on the backend (the client's error event says api_error, as for a 500)."""

    status_code = 504


def chosen_deployment(request_data: Any) -> tuple[str | None, float]:
    """The id and idle limit (0: none) of the deployment serving this request: the router
    writes its model_info into the request's metadata (router.py,
    _update_kwargs_with_deployment: `metadata` for /v1/chat/completions, `litellm_metadata`
    for /v1/messages), the same dict the proxy keeps as request_data."""
    data = _mapping(request_data)
    for bucket in ("litellm_metadata", "metadata"):
        info = _mapping(_mapping(data.get(bucket)).get("model_info"))
        if info:
            limit = info.get(IDLE_KEY)
            if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
                limit = 0.0
            return deployment_id({"model_info": info}), float(limit)
    return None, 0.0


_EVENT = re.compile(r"^event:\s*(\S+)", re.MULTILINE)
_TYPE = re.compile(r'"type"\s*:\s*"([a-z_]+)"')
_NO_OUTPUT = {"message_start", "ping"}


def no_output_yet(chunk: Any) -> bool:
    """A chunk that says nothing about the backend having answered: Anthropic's
    message_start (or ping) events alone. LiteLLM's chat_completions route sends
    message_start before it reads the backend (llms/anthropic/pass_through/adapters/
    streaming_iterator.py:800-817), so the first-token limit, not the idle one, covers
    the wait after it. vLLM's own /v1/messages sends message_start with its first
    output (entrypoints/anthropic/serving.py:1030-1054), as its chat stream sends its
    first chunk (entrypoints/openai/chat_completion/serving.py:575-588)."""
    if isinstance(chunk, Mapping):
        return chunk.get("type") in _NO_OUTPUT
    if isinstance(chunk, bytes | bytearray):
        chunk = bytes(chunk).decode("utf-8", "replace")
    if not isinstance(chunk, str):
        return False  # a chat completion chunk: the backend's output
    events = [e for e in chunk.replace("\r\n", "\n").split("\n\n") if e.strip()]
    return bool(events) and all(_event_type(e) in _NO_OUTPUT for e in events)


def _event_type(event: str) -> str | None:
    named = _EVENT.search(event)
    if named:
        return named.group(1)
    typed = _TYPE.search(event)  # a data line alone: its JSON's type
    return typed.group(1) if typed else None


async def idle_guarded(
    stream: Any, limit: float, on_idle: Callable[[StreamIdleTimeout], None]
) -> AsyncIterator[Any]:
    """STREAM's chunks; once the backend's output began, each next one waits at most
    LIMIT seconds, else the upstream is closed, ON_IDLE runs, and StreamIdleTimeout is
    raised. asyncio.timeout waits in this task (not wait_for's own task before 3.12), so
    the upstream's await is cancelled where it runs."""
    upstream = stream.__aiter__()
    began = False
    while True:
        timer = asyncio.timeout(limit if began else None)
        try:
            async with timer:
                chunk = await upstream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            if not timer.expired():
                raise  # the upstream's own (the HTTP read timeout): LiteLLM's to handle
            idle = StreamIdleTimeout(
                f"the backend sent nothing for {limit:g} s mid-stream (stream idle limit)"
            )
            await _close(stream, limit)
            on_idle(idle)
            raise idle from None
        began = began or not no_output_yet(chunk)
        yield chunk


async def _close(stream: Any, limit: float) -> None:
    """Close the upstream (its HTTP response), never waiting on it longer than LIMIT."""
    close = getattr(stream, "aclose", None)
    if close is None:
        return
    try:
        async with asyncio.timeout(limit):
            await close()
    except Exception:  # closing a hung stream must not hide why it ended
        return


def timed_out(exception: Any) -> bool:
    """A time limit ran out waiting for the backend (its first token or its next bytes)."""
    if exception is None:
        return False
    if getattr(exception, "status_code", None) == 408:
        return True
    names = {
        type(exception).__name__,
        type(getattr(exception, "original_exception", None)).__name__,
    }
    if names & {"Timeout", "ReadTimeout", "TimeoutError", "StreamIdleTimeout"}:
        return True
    text = str(exception)
    return "Timeout" in text or "timed out" in text


class Failover(_Base):  # type: ignore[misc]  # LiteLLM's CustomLogger (untyped here)
    """See the module's docstring."""

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list[Any],
        messages: Any,
        request_kwargs: Any = None,
        parent_otel_span: Any = None,
    ) -> list[Any]:
        return elsewhere(healthy_deployments, request_kwargs)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        try:
            self.cool_down(_mapping(kwargs))
        except Exception:  # never fail a request over this
            return

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncIterator[Any]:
        model_id, limit = chosen_deployment(request_data)
        if not limit:
            async for chunk in response:
                yield chunk
            return

        def cool(exception: StreamIdleTimeout) -> None:
            try:
                cool_down_deployment(model_id, exception)
            except Exception:  # never hide the timeout over this
                return

        async for chunk in idle_guarded(response, limit, cool):
            yield chunk

    def cool_down(self, kwargs: Mapping[str, Any]) -> None:
        exception = kwargs.get("exception")
        if not timed_out(exception):
            return
        cool_down_deployment(deployment_id(kwargs.get("litellm_params")), exception)


def cool_down_deployment(model_id: str | None, exception: Any) -> None:
    """Put MODEL_ID in the router's cooldown (router_utils/cooldown_cache.py,
    add_deployment_to_cooldown) for its cooldown_time, as LiteLLM does for a first-token
    timeout (408), unless it is its model's only deployment."""
    router = _router()
    if model_id is None or router is None:
        return
    group = router.get_model_group(id=model_id)
    if not group or len(group) < 2:
        return  # nowhere else to send its requests
    router.cooldown_cache.add_deployment_to_cooldown(
        model_id=model_id,
        original_exception=exception,
        exception_status=408,
        cooldown_time=float(router.cooldown_time),
    )


def _router() -> Any:
    """The proxy's router (litellm.proxy.proxy_server.llm_router, set at its start)."""
    try:
        from litellm.proxy import proxy_server
    except ImportError:
        return None
    return getattr(proxy_server, "llm_router", None)


failover = Failover()
"""The instance litellm_settings.callbacks names (ccprov_failover.failover)."""
