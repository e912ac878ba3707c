"""The addresses of the nftables allowlists (roles/nft_allowlist), for both directions: the
gateway's egress allowlist (litellm_gateway_egress_filter) and vLLM's port allowlist
(vllm_server_allowed_clients). Which entries are names to resolve on the host, what
`getent ahosts` and resolv.conf say, and the {net, family, port, proto} rules the tables
and systemd's IPAddressAllow= are made of."""

from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(text: str) -> Network | None:
    """An address (`[v6]` too) or CIDR; None for anything else (a name)."""
    try:
        return ipaddress.ip_network(str(text).strip().strip("[]"), strict=False)
    except ValueError:
        return None


def _entry(entry: Any) -> dict[str, Any]:
    """A host (address, CIDR or name) or {host, port, proto} -> {host, port, proto}."""
    if isinstance(entry, dict):
        return {"host": str(entry["host"]).strip(), "port": entry.get("port"), "proto": "tcp"}
    return {"host": str(entry).strip(), "port": None, "proto": "tcp"}


def nft_names(entries: list[Any]) -> list[str]:
    """The entries' hosts that are names (resolved on the host at deploy time)."""
    return sorted({e["host"] for e in map(_entry, entries) if _network(e["host"]) is None})


def getent_addresses(stdout: str) -> list[str]:
    """`getent ahosts NAME` output -> its distinct addresses, in order."""
    found: list[str] = []
    for line in stdout.splitlines():
        fields = line.split()
        if fields and _network(fields[0]) is not None and fields[0] not in found:
            found.append(fields[0])
    return found


def resolv_conf_nameservers(text: str) -> list[str]:
    """The nameserver addresses of a resolv.conf."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver" and _network(fields[1]) is not None:
            found.append(fields[1])
    return found


def nft_allow_entries(texts: list[Any], where: str) -> list[dict[str, Any]]:
    """`10.0.0.0/8`, `10.0.9.7:4317`, `[fd00::7]:4317` or `fd00::/8` -> {host, port};
    WHERE (the input's name) heads the error. Names are refused: nothing resolves them."""
    found = []
    for item in texts:
        text = str(item)
        value, port = text.strip(), None
        if value.startswith("["):
            value, _, rest = value[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None
        elif value.count(":") == 1:
            value, port = value.split(":")
        try:
            number = int(port) if port is not None else None
        except ValueError:
            number = -1
        if _network(value) is None or number == -1:
            raise AnsibleFilterError(
                f"{where}: {text!r} is not an address or CIDR with an optional :port "
                "(e.g. 10.0.5.0/24 or 10.0.9.7:4317)"
            )
        if number is not None and not 0 < number < 65536:
            raise AnsibleFilterError(f"{where}: {text!r} has a bad port")
        found.append({"host": value, "port": number})
    return found


def nft_rules(
    entries: list[Any],
    resolved: dict[str, list[str]] | None = None,
    unresolved: str = "",
    resolvers: list[str] | None = None,
    loopback: bool = False,
) -> list[dict[str, Any]]:
    """Entries (hosts or {host, port}) -> [{net, family, port, proto}], each once, in order.
    A name's addresses come from RESOLVED; a name with none fails with UNRESOLVED ({host}
    filled in) or, when that is empty, has no rule. Loopback is always allowed, so left
    out unless LOOPBACK. When an entry was a name, the RESOLVERS follow on port 53 (udp and
    tcp): the host must look it up again."""
    rules: list[dict[str, Any]] = []

    def add(net: Network, port: int | None, proto: str = "tcp") -> None:
        rule = {
            "net": str(net),
            "family": "ip6" if net.version == 6 else "ip",
            "port": port,
            "proto": proto,
        }
        if (loopback or not net.is_loopback) and rule not in rules:
            rules.append(rule)

    names = False
    for entry in map(_entry, entries):
        net = _network(entry["host"])
        nets = [net] if net is not None else []
        if net is None:
            names = True
            found = map(_network, (resolved or {}).get(entry["host"]) or [])
            nets = [address for address in found if address is not None]
            if not nets and unresolved:
                raise AnsibleFilterError(unresolved.format(host=entry["host"]))
        for item in nets:
            add(item, entry["port"])
    for resolver in (resolvers or []) if names else []:
        dns = _network(resolver)
        if dns is not None:
            add(dns, 53, "udp")
            add(dns, 53, "tcp")
    return rules


def nft_networks(rules: list[dict[str, Any]]) -> list[str]:
    """The rules' networks for systemd's IPAddressAllow= (it has no ports)."""
    return sorted({rule["net"] for rule in rules})


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "nft_names": nft_names,
            "getent_addresses": getent_addresses,
            "resolv_conf_nameservers": resolv_conf_nameservers,
            "nft_allow_entries": nft_allow_entries,
            "nft_rules": nft_rules,
            "nft_networks": nft_networks,
        }
