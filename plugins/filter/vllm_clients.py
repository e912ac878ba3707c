"""Who may open vLLM's port (vllm_server_allowed_clients) as networks for systemd's
IPAddressAllow= and the nftables rule."""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip().strip("[]"), strict=False)
    except ValueError:
        return None


def vllm_client_names(entries: list[str]) -> list[str]:
    """The entries that are names (resolved on the GPU host at deploy time)."""
    return sorted({str(e).strip() for e in entries if _network(str(e)) is None})


def vllm_client_networks(entries: list[str], resolved: dict[str, str]) -> list[dict[str, Any]]:
    """Entries -> [{net, family}] (loopback dropped: always allowed). `resolved` maps each
    name to `getent ahosts` output."""
    found: list[dict[str, Any]] = []
    for entry in entries:
        text = str(entry).strip()
        net = _network(text)
        nets = [net] if net is not None else []
        if net is None:
            for line in (resolved.get(text) or "").splitlines():
                address = _network(line.split()[0]) if line.split() else None
                if address is not None:
                    nets.append(address)
            if not nets:
                raise AnsibleFilterError(
                    f"vllm_server_allowed_clients: {text!r} is not an address or CIDR and does "
                    "not resolve on the GPU host: use the gateway's address"
                )
        for item in nets:
            if item.is_loopback:
                continue
            rule = {"net": str(item), "family": "ip6" if item.version == 6 else "ip"}
            if rule not in found:
                found.append(rule)
    return found


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "vllm_client_names": vllm_client_names,
            "vllm_client_networks": vllm_client_networks,
        }
