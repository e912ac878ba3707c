"""A ceiling on the tokens one request may have a GPU host generate (issue #28, finding 7).

The gateway's rpm and max_parallel limits count requests, not tokens: one request asking
for `max_tokens: 250000` (or none, on /v1/chat/completions, where vLLM then allows the rest
of the context) holds a GPU for minutes. Claude Code asks for 32000 (its default output
limit, CLAUDE_CODE_MAX_OUTPUT_TOKENS).

This LiteLLM callback (a CustomLogger, `litellm_settings.callbacks:
[ccprov_output_cap.output_cap]`, loaded from the config directory like ccprov_usage.py)
lowers `max_tokens` / `max_completion_tokens` to the ceiling in async_pre_call_hook, before
routing (LiteLLM 1.106.2 proxy/utils.py, ProxyLogging.pre_call_hook: /v1/messages with the
Anthropic body, /v1/chat/completions with the OpenAI one), and sets it where a chat request
gives none. The ceiling is the smallest `model_info.ccprov_max_tokens` of the model's
deployments (the role sets litellm_gateway_max_tokens there); a model without one on every
deployment is left alone. A request under the ceiling is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # the unit tests, which run without LiteLLM
    _Base = object

FLAG = "ccprov_max_tokens"
FIELDS = ("max_tokens", "max_completion_tokens")


def ceiling_of(deployments: list[dict[str, Any]]) -> int | None:
    """The smallest positive ceiling if every deployment has one, else None."""
    values: list[int] = []
    for deployment in deployments:
        value = (deployment.get("model_info") or {}).get(FLAG)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            return None
        values.append(value)
    return min(values) if values else None


def router_ceiling(model: Any) -> int | None:
    """The ceiling of MODEL (the alias the client asked for) in the running proxy."""
    if not isinstance(model, str):
        return None
    try:
        from litellm.proxy.proxy_server import llm_router
    except ImportError:
        return None
    return ceiling_of((llm_router.get_model_list(model_name=model) if llm_router else None) or [])


def capped(data: dict[str, Any], ceiling: int) -> dict[str, Any]:
    """DATA with its output limit at most CEILING (set to it when the body has none)."""
    given = [f for f in FIELDS if data.get(f) is not None]
    for field in given:
        value = data[field]
        # A non-number is LiteLLM's or vLLM's to refuse; only a number over it changes.
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > ceiling:
            data[field] = ceiling
    if not given:
        data["max_tokens"] = ceiling
    return data


class OutputCap(_Base):  # type: ignore[misc]  # LiteLLM's CustomLogger (untyped here)
    """Caps the request's output limit before routing; see the module's docstring."""

    def __init__(self, ceiling: Callable[[Any], int | None] = router_ceiling) -> None:
        if _Base is not object:
            super().__init__()
        self.ceiling = ceiling

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        ceiling = self.ceiling(data.get("model")) if "messages" in data else None
        return capped(data, ceiling) if ceiling else data


output_cap = OutputCap()
"""The instance litellm_settings.callbacks names (ccprov_output_cap.output_cap)."""
