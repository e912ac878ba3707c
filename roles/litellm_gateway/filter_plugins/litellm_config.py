"""Filters that build the LiteLLM proxy config from inventory data."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def litellm_deployments(
    backends: list[dict[str, Any]], model_name: str, backend_model: str, timeout: int
) -> list[dict[str, Any]]:
    """One model_list entry per vLLM host, all under one model_name (LiteLLM then
    load-balances). Keys stay out of the config: each backend's key is read from
    LITELLM_BACKEND_KEY_<n> in the service's private environment file."""
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
        seconds = int(backend.get("timeout", timeout))
        deployments.append(
            {
                "model_name": model_name,
                "litellm_params": {
                    "model": backend_model,
                    "api_base": api_base,
                    "api_key": f"os.environ/LITELLM_BACKEND_KEY_{index}",
                    "timeout": seconds,
                    "stream_timeout": seconds,
                },
                "model_info": {"id": f"backend-{index}"},
            }
        )
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
