"""Network filters of the gateway: the egress allowlist (litellm_gateway_egress_filter),
which addresses and ports LiteLLM may connect to, derived from the backends it routes to;
the TLS front's certificate names; and for the metrics (issue #21), the vLLM backends whose
own /metrics the front proxies as /metrics/vllm/<host:port> and the monitoring clients it
lets in."""

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


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def litellm_egress_names(endpoints: list[dict[str, Any]]) -> list[str]:
    """The endpoint hosts that are names (resolved on the gateway at deploy time)."""
    return sorted({e["host"] for e in endpoints if not _is_address(e["host"])})


def _allow_entry(text: str) -> dict[str, Any]:
    """`10.0.0.0/8`, `10.0.9.7:4317`, `[fd00::7]:4317` or `fd00::/8` -> {net, port}."""
    value, port = text.strip(), None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        value = host
        if rest.startswith(":"):
            port = rest[1:]
    elif value.count(":") == 1:
        value, port = value.split(":")
    try:
        net = ipaddress.ip_network(value, strict=False)
        number = int(port) if port is not None else None
    except ValueError as exc:
        raise AnsibleFilterError(
            f"litellm_gateway_egress_allow: {text!r} is not an address or CIDR with an "
            "optional :port (e.g. 10.0.5.0/24 or 10.0.9.7:4317)"
        ) from exc
    if number is not None and not 0 < number < 65536:
        raise AnsibleFilterError(f"litellm_gateway_egress_allow: {text!r} has a bad port")
    return {"net": str(net), "family": "ip6" if net.version == 6 else "ip", "port": number}


def litellm_egress_rules(
    endpoints: list[dict[str, Any]],
    resolved: dict[str, list[str]],
    resolvers: list[str],
    extra_allow: list[str],
) -> list[dict[str, Any]]:
    """The allowlist as {net, family, port, proto} rules: each endpoint's addresses (names
    through `resolved`), the resolvers on port 53 when a name is used, then the extra
    entries. Loopback is always allowed and not listed."""
    rules: list[dict[str, Any]] = []

    def add(address: str, port: int | None, proto: str = "tcp") -> None:
        net = ipaddress.ip_network(address, strict=False)
        if net.is_loopback:
            return
        rule = {
            "net": str(net),
            "family": "ip6" if net.version == 6 else "ip",
            "port": port,
            "proto": proto,
        }
        if rule not in rules:
            rules.append(rule)

    names = False
    for endpoint in endpoints:
        host = endpoint["host"]
        if _is_address(host):
            add(host, endpoint["port"])
            continue
        names = True
        addresses = resolved.get(host) or []
        if not addresses:
            raise AnsibleFilterError(
                f"the backend host {host} does not resolve on the gateway: fix its DNS or "
                "use its address in api_base"
            )
        for address in addresses:
            add(address, endpoint["port"])
    if names:
        for resolver in resolvers:
            add(resolver, 53, "udp")
            add(resolver, 53, "tcp")
    for text in extra_allow:
        entry = _allow_entry(str(text))
        add(entry["net"], entry["port"])
    return rules


def litellm_backend_ports(
    endpoints: list[dict[str, Any]], resolved: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """The backends' own address:port pairs (vLLM's ports) as {net, family, port} rules,
    loopback included: the egress table lets only the gateway's services open them, so no
    other user on the gateway reaches the model past the keys, limits and usage log. Names
    go through `resolved`; an unresolved name has no rule (the egress rules refuse it)."""
    rules: list[dict[str, Any]] = []
    for endpoint in endpoints:
        host = endpoint["host"]
        addresses = [host] if _is_address(host) else resolved.get(host) or []
        for address in addresses:
            net = ipaddress.ip_network(address, strict=False)
            rule = {
                "net": str(net),
                "family": "ip6" if net.version == 6 else "ip",
                "port": endpoint["port"],
            }
            if rule not in rules:
                rules.append(rule)
    return rules


def litellm_ip_allow(rules: list[dict[str, Any]]) -> list[str]:
    """The rules' networks for systemd's IPAddressAllow= (it has no ports)."""
    return sorted({rule["net"] for rule in rules})


def getent_addresses(stdout: str) -> list[str]:
    """`getent ahosts NAME` output -> its distinct addresses, in order."""
    found: list[str] = []
    for line in stdout.splitlines():
        fields = line.split()
        if fields and _is_address(fields[0]) and fields[0] not in found:
            found.append(fields[0])
    return found


def resolv_conf_nameservers(text: str) -> list[str]:
    """The nameserver addresses of a resolv.conf."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver" and _is_address(fields[1]):
            found.append(fields[1])
    return found


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
        address = host
        if not _is_address(host):
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
            "litellm_egress_names": litellm_egress_names,
            "litellm_egress_rules": litellm_egress_rules,
            "litellm_ip_allow": litellm_ip_allow,
            "litellm_backend_ports": litellm_backend_ports,
            "getent_addresses": getent_addresses,
            "resolv_conf_nameservers": resolv_conf_nameservers,
            "litellm_vllm_metrics": litellm_vllm_metrics,
            "litellm_metrics_clients": litellm_metrics_clients,
        }
