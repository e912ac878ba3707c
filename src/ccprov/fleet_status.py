"""`ccprov status -i INVENTORY`: per host, service, pinned vs installed version, health,
vLLM's prefix-cache hit rate (CACHE: share of prompt tokens served from the cache since it
started; session affinity at the gateway keeps it high), GPUs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ccprov import fleet, inventory

# group -> (unit, version variable, default pin, port variable, default port)
EXPECTED = {
    "gpu_hosts": ("vllm", "vllm_server_version", "0.33.0", "vllm_server_port", 8000),
    "gateways": ("litellm", "litellm_gateway_version", "1.106.2", "litellm_gateway_port", 4000),
}


def _plain(value: Any, default: Any) -> Any:
    """Inventory values may be templates ccprov does not render; fall back to the default."""
    return default if value is None or "{{" in str(value) else value


def _on(value: Any, default: bool) -> bool:
    """An inventory boolean (true/false, yes/no, 1/0; a template: the default)."""
    value = _plain(value, default)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def run(
    inventory_path: Path, limit: str | None, forks: int, accept_new_host_keys: bool = False
) -> int:
    hosts = inventory.load(inventory_path, limit)
    if not hosts:
        raise click.ClickException(f"no hosts in {inventory_path}")
    source = (Path(__file__).parent / "status_probe.py").read_text(encoding="utf-8")
    by_args: dict[str, list[inventory.Host]] = {}
    wants: dict[str, dict[str, Any]] = {}
    for host in hosts:
        want = {}
        for group, (unit, version_var, pin, port_var, port) in EXPECTED.items():
            if group in host.groups:
                want[unit] = {
                    "pin": str(_plain(host.variables.get(version_var), pin)),
                    "port": int(_plain(host.variables.get(port_var), port)),
                }
        # The TLS front (nginx) in front of LiteLLM, on by default (litellm_gateway_tls).
        if "gateways" in host.groups and _on(host.variables.get("litellm_gateway_tls"), True):
            want["nginx"] = {"pin": "-", "port": 0}
        wants[host.name] = want
        args = json.dumps({u: w["port"] for u, w in want.items()}, sort_keys=True)
        by_args.setdefault(args, []).append(host)
    results = {}
    for args, members in by_args.items():
        for result in fleet.run_probe(
            members, source, [args], forks=forks, accept_new_host_keys=accept_new_host_keys
        ):
            results[result.host.name] = result

    bad = 0
    width = max(len(h.name) for h in hosts)
    click.echo(
        f"{'HOST':<{width}}  {'GROUP':<12}  {'SERVICE':<8} {'STATE':<9} {'PIN':<8} "
        f"{'INSTALLED':<10} {'HEALTH':<10} {'CACHE':<7} GPUS"
    )
    for host in hosts:
        result = results[host.name]
        if result.data is None:
            bad += 1
            click.echo(f"{host.name:<{width}}  {host.kind:<12}  UNREACHABLE: {result.error}")
            continue
        gpus = "; ".join(result.data.get("gpus", [])) or "-"
        services = result.data.get("services", {})
        if not wants[host.name]:
            click.echo(
                f"{host.name:<{width}}  {host.kind:<12}  {'-':<8} {'-':<9} {'-':<8} "
                f"{'-':<10} {'-':<10} {'-':<7} {gpus}"
            )
        for unit, want in wants[host.name].items():
            got = services.get(unit, {})
            if unit == "nginx":
                ok = got.get("active") == "active"
                got = {**got, "installed": "-", "health": "-"}
            else:
                ok = (
                    got.get("active") == "active"
                    and got.get("installed") == want["pin"]
                    and got.get("health") == "ok"
                )
            bad += not ok
            installed = got.get("installed") or "none"
            click.echo(
                f"{host.name:<{width}}  {host.kind:<12}  {unit:<8} {got.get('active', '?'):<9} "
                f"{want['pin']:<8} {installed:<10} {got.get('health', '?'):<10} "
                f"{got.get('prefix_cache', '-'):<7} {gpus}"
                + ("" if ok else "   <- needs attention")
            )
    click.echo(f"{len(hosts)} hosts: {'all healthy' if not bad else f'{bad} problem(s)'}")
    return 1 if bad else 0
