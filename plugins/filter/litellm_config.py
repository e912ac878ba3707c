"""Filters that build the LiteLLM proxy config from inventory data."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

# How /v1/messages reaches vLLM (litellm_gateway_backend_route).
ROUTES = ("messages", "chat_completions")
# model_info.supported_endpoints with /v1/messages makes LiteLLM 1.106.2 forward Anthropic
# requests untranslated to the backend's own {api_base without /v1}/v1/messages, with
# `Authorization: Bearer <api_key>` (litellm/llms/openai_like/messages/transformation.py,
# OpenAILikeAnthropicMessagesConfig); chat completions keep working for OpenAI clients.
NATIVE_ENDPOINTS = ["/v1/chat/completions", "/v1/messages"]


def litellm_deployments(
    backends: list[dict[str, Any]],
    model_name: str,
    backend_model: str,
    timeout: int,
    route: str = "chat_completions",
    drop_params: list[str] | None = None,
    text_only: bool = False,
    max_tokens: int = 0,
    stream_timeout: int = 0,
    stream_idle_timeout: int = 0,
) -> list[dict[str, Any]]:
    """One model_list entry per vLLM host, all under one model_name (LiteLLM then
    load-balances). Keys stay out of the config: each backend's key is read from
    LITELLM_BACKEND_KEY_<n> in the service's private environment file.

    route: `messages` forwards Claude Code's /v1/messages to vLLM's own Anthropic endpoint;
    `chat_completions` has LiteLLM translate it to /v1/chat/completions and back. A
    backend's own `route` wins (a server without an Anthropic endpoint beside vLLM hosts):
    LiteLLM reads the opt-in from the deployment it picked (LiteLLM 1.106.2
    llms/anthropic/pass_through/messages/handler.py:90-100).
    drop_params: request parameters removed before the backend sees them. LiteLLM 1.106.2
    honours them only per deployment (litellm_params.additional_drop_params), not in
    litellm_settings; dotted names (output_config.effort) remove nested fields.
    text_only: mark each deployment `model_info.ccprov_text_only: true`, which the
    gateway's callback (roles/litellm_gateway/files/ccprov_text_only.py) reads to replace
    image, document and tool_reference blocks with text notes before routing.
    max_tokens: > 0 marks each deployment `model_info.ccprov_max_tokens`, the ceiling the
    gateway's callback (files/ccprov_output_cap.py) lowers a request's output limit to.
    stream_timeout: > 0, the seconds a streamed request waits for the backend's next bytes,
    the first ones included (LiteLLM's litellm_params.stream_timeout, which becomes the HTTP
    client's read timeout: aiohttp's sock_read); past it LiteLLM retries on another backend.
    A backend's own `stream_timeout` wins; 0: the request timeout.
    stream_idle_timeout: > 0 marks each deployment `model_info.ccprov_stream_idle_timeout`,
    the seconds the gateway's callback (files/ccprov_failover.py) lets a stream go without
    a byte once the backend's output began; model_info, which LiteLLM keeps to itself, not
    litellm_params, which reach the provider. A backend's own `stream_idle_timeout` wins
    (its 0 too); 0: stream_timeout covers every gap."""
    if route not in ROUTES:
        raise AnsibleFilterError(
            f"litellm_gateway_backend_route must be one of {', '.join(ROUTES)}, got {route!r}"
        )
    drops = list(drop_params or [])
    if not all(isinstance(name, str) and name for name in drops):
        raise AnsibleFilterError(
            f"litellm_gateway_additional_drop_params must be a list of names, got {drops!r}"
        )
    deployments = []
    seen = set()
    for index, backend in enumerate(backends, start=1):
        api_base = str(backend.get("api_base", "")).rstrip("/")
        if not api_base.startswith(("http://", "https://")):
            raise AnsibleFilterError(
                f"litellm_gateway_backends[{index - 1}].api_base must be an http(s) URL ending "
                f"in /v1, got {api_base!r}"
            )
        if api_base in seen:
            raise AnsibleFilterError(f"backend {api_base} is listed twice")
        seen.add(api_base)
        if backend.get("route", route) not in ROUTES:
            raise AnsibleFilterError(
                f"litellm_gateway_backends[{index - 1}].route must be one of"
                f" {', '.join(ROUTES)}, got {backend['route']!r}"
            )
        seconds = int(backend.get("timeout", timeout))
        params: dict[str, Any] = {
            "model": backend_model,
            "api_base": api_base,
            "api_key": f"os.environ/LITELLM_BACKEND_KEY_{index}",
            "timeout": seconds,
            "stream_timeout": int(backend.get("stream_timeout") or stream_timeout or seconds),
        }
        if drops:
            params["additional_drop_params"] = list(drops)
        info: dict[str, Any] = {"id": f"backend-{index}"}
        if backend.get("route", route) == "messages":
            info["supported_endpoints"] = list(NATIVE_ENDPOINTS)
        if text_only:
            info["ccprov_text_only"] = True
        if max_tokens > 0:
            info["ccprov_max_tokens"] = int(max_tokens)
        idle = backend.get("stream_idle_timeout")
        idle = int(stream_idle_timeout if idle is None else idle)  # a host's own 0: none
        if idle > 0:
            info["ccprov_stream_idle_timeout"] = idle
        deployments.append({"model_name": model_name, "litellm_params": params, "model_info": info})
    return deployments


def litellm_backend_env(backends: list[dict[str, Any]], default_key: str) -> dict[str, str]:
    """LITELLM_BACKEND_KEY_<n> for each backend (its own key, else the default)."""
    return {
        f"LITELLM_BACKEND_KEY_{index}": str(backend.get("api_key") or default_key or "none")
        for index, backend in enumerate(backends, start=1)
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "litellm_deployments": litellm_deployments,
            "litellm_backend_env": litellm_backend_env,
        }
