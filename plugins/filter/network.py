"""Network filters of the gateway: the endpoints of its egress allowlist
(litellm_gateway_egress_filter), which hosts and ports LiteLLM connects to, derived from
the backends it routes to (nft_allowlist.py makes them rules); and for the metrics (issue
#21), the vLLM backends whose own /metrics the front proxies as /metrics/vllm/<host:port>
and the monitoring clients it lets in."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

DEFAULT_PORTS = {"http": 80, "https": 443}


def _endpoint(url: str, where: str) -> dict[str, Any]:
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise AnsibleFilterError(f"{where}: {url!r} is not an http(s) URL")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise AnsibleFilterError(f"{where}: {url!r} has a bad port") from exc
    return {"host": parts.hostname, "port": port}


def litellm_egress_endpoints(
    backends: list[dict[str, Any]], extra_models: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every host:port LiteLLM forwards requests to: the backends' api_base and each extra
    model's litellm_params.api_base. An extra model without one would go to its provider's
    public default, which the egress filter refuses: say so now, not at the first request."""
    found: list[dict[str, Any]] = []
    for index, backend in enumerate(backends):
        found.append(
            _endpoint(str(backend.get("api_base", "")), f"litellm_gateway_backends[{index}]")
        )
    for index, model in enumerate(extra_models):
        where = f"litellm_gateway_extra_models[{index}] ({model.get('model_name', '?')})"
        api_base = (model.get("litellm_params") or {}).get("api_base")
        if not api_base:
            raise AnsibleFilterError(
                f"{where} has no litellm_params.api_base, and the egress filter only lets the "
                "gateway reach addresses it knows: set its api_base (and add the address to "
                "litellm_gateway_egress_allow if needed), or set "
                "litellm_gateway_egress_filter: none"
            )
        found.append(_endpoint(str(api_base), where))
    unique = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


# What may appear in an nginx location and a Prometheus metrics_path unquoted.
_NAME = re.compile(r"^[A-Za-z0-9.\-:\[\]]+$")


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def litellm_vllm_metrics(
    backends: list[dict[str, Any]], resolved: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """One entry per backend host:port: name (host:port, as the usage log's `backend`),
    url (its /metrics, by the address the play resolved for a name, like the egress
    allowlist: nginx then needs no DNS at start), host_header, tls, server_name."""
    found: list[dict[str, Any]] = []
    names: set[str] = set()
    for index, backend in enumerate(backends):
        api_base = str(backend.get("api_base", "")).strip()
        parts = urlsplit(api_base)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise AnsibleFilterError(
                f"litellm_gateway_backends[{index}].api_base: {api_base!r} is not an http(s) URL"
            )
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise AnsibleFilterError(
                f"litellm_gateway_backends[{index}].api_base: {api_base!r} has a bad port"
            ) from exc
        host = parts.hostname.lower()
        name = f"{_bracket(host)}:{port}"
        if not _NAME.match(name):
            raise AnsibleFilterError(
                f"litellm_gateway_backends[{index}].api_base: host {host!r} has characters a "
                "metrics path cannot carry"
            )
        if name in names:
            continue
        names.add(name)
        # A name by its first address preflight found (only names are looked up).
        address = next(iter((resolved or {}).get(host) or []), host)
        found.append(
            {
                "name": name,
                "url": f"{parts.scheme}://{_bracket(address)}:{port}/metrics",
                "host_header": name,
                "tls": parts.scheme == "https",
                "server_name": host,
            }
        )
    return found


def litellm_metrics_clients(clients: list[Any]) -> list[str]:
    """The monitoring clients as nginx allow entries (addresses or CIDRs), checked."""
    allowed: list[str] = []
    for client in clients:
        text = str(client).strip()
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise AnsibleFilterError(
                f"litellm_gateway_metrics_clients: {text!r} is not an address or CIDR "
                "(e.g. 10.0.9.0/24)"
            ) from exc
        entry = str(net.network_address) if net.num_addresses == 1 else str(net)
        if entry not in allowed:
            allowed.append(entry)
    return allowed


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "litellm_egress_endpoints": litellm_egress_endpoints,
            "litellm_vllm_metrics": litellm_vllm_metrics,
            "litellm_metrics_clients": litellm_metrics_clients,
        }
