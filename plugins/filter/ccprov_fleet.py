"""Filters that tie the plays together (a GPU host's vars -> a gateway backend)."""

from __future__ import annotations

from typing import Any


def ccprov_gpu_backend(hostvars: dict[str, Any]) -> dict[str, Any]:
    """The gateway backend entry for one GPU host, from the variables of the server role it
    runs (vllm_server): its OpenAI-compatible /v1 URL (https when the host serves HTTPS:
    vllm_server_tls_certificate) and key. playbooks/gateways.yml takes the backends' key
    from here too, so a second server role changes this filter, not the play."""
    address = (
        hostvars.get("ccprov_address")
        or hostvars.get("ansible_host")
        or hostvars["inventory_hostname"]
    )
    port = hostvars.get("vllm_server_port", 8000)
    scheme = "https" if hostvars.get("vllm_server_tls_certificate") else "http"
    backend: dict[str, Any] = {"api_base": f"{scheme}://{address}:{port}/v1"}
    if hostvars.get("vllm_server_api_key"):
        backend["api_key"] = hostvars["vllm_server_api_key"]
    return backend


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ccprov_gpu_backend": ccprov_gpu_backend}
