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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    if names & {"Timeout", "ReadTimeout", "TimeoutError"}:
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

    def cool_down(self, kwargs: Mapping[str, Any]) -> None:
        exception = kwargs.get("exception")
        if not timed_out(exception):
            return
        model_id = deployment_id(kwargs.get("litellm_params"))
        if model_id is None:
            return
        router = _router()
        if router is None:
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
