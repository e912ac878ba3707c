"""`ccprov status -i INVENTORY`: per host, service, pinned vs installed version, health,
vLLM's prefix-cache hit rate (CACHE: share of prompt tokens served from the cache since it
started; session affinity at the gateway keeps it high), GPUs.

What a host should run (version pin, port, install root) is the inventory's value, else
the role's default, read from the role's defaults/main.yml that ships with ccprov. The probe
(status_probe.py) gets them as its argument: it runs on the host and reads no role file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ccprov import paths, probes
from ccprov.errors import CcprovError
from ccprov.fleet import hostile, inventory, ssh


@dataclass(frozen=True)
class Service:
    """A service a ccprov group runs: the role that installs it (its variables are
    <role>_version, <role>_port and <role>_root) and the service's health path."""

    group: str
    role: str
    unit: str
    health: str


SERVICES = (
    Service("gpu_hosts", "vllm_server", "vllm", "/health"),
    Service("gateways", "litellm_gateway", "litellm", "/health/liveliness"),
)


@cache
def role_defaults(role: str) -> dict[str, Any]:
    """The role's defaults/main.yml, as ccprov ships it."""
    import yaml

    path = paths.data_dir() / "roles" / role / "defaults" / "main.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CcprovError(f"cannot read {path} ({type(exc).__name__}): reinstall ccprov") from None
    return data if isinstance(data, dict) else {}


def _default(role: str, variable: str) -> Any:
    defaults = role_defaults(role)
    if variable not in defaults:
        raise CcprovError(
            f"{variable} is missing from the {role} role's defaults/main.yml: reinstall ccprov"
        )
    return defaults[variable]


def _plain(value: Any, default: Any) -> Any:
    """Inventory values may be templates ccprov does not render; fall back to the default."""
    return default if value is None or "{{" in str(value) else value


def _on(value: Any, default: bool) -> bool:
    """An inventory boolean (true/false, yes/no, 1/0; a template: the default)."""
    value = _plain(value, default)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def expected(host: inventory.Host) -> dict[str, dict[str, Any]]:
    """unit -> what the host should run: pin, port, root and health path (nginx: pin "-")."""
    want: dict[str, dict[str, Any]] = {}
    for svc in SERVICES:
        if svc.group not in host.groups:
            continue
        setting = {}
        for name in ("version", "port", "root"):
            variable = f"{svc.role}_{name}"
            setting[name] = _plain(host.variables.get(variable), _default(svc.role, variable))
        want[svc.unit] = {
            "pin": str(setting["version"]),
            "port": int(setting["port"]),
            "root": str(setting["root"]),
            "health": svc.health,
        }
        if svc.unit == "vllm":
            for name in ("hf_home", "model", "model_revision"):
                variable = f"{svc.role}_{name}"
                value = _plain(host.variables.get(variable), _default(svc.role, variable))
                want[svc.unit][name.removeprefix("model_")] = str(value)
    # The TLS front (nginx) in front of LiteLLM (litellm_gateway_tls).
    if "gateways" in host.groups and _on(
        host.variables.get("litellm_gateway_tls"),
        _on(_default("litellm_gateway", "litellm_gateway_tls"), True),
    ):
        want["nginx"] = {"pin": "-"}
    return want


# What ccprov's tests assume of the served checkpoint (tests/vllm_reference/model_dir.py, the
# stand-in, the gateway's litellm_gateway_text_only): read offline from mistral-common, not
# from Devstral 2's own files, so the first real host settles it.
TESTED_MODEL = {"tokenizer": "v13", "vision": False}


def model_note(facts: Any) -> str:
    """The vLLM line's note on the downloaded checkpoint: its tokenizer version and whether
    it has a vision part, and a warning where that is not what the tests assume."""
    if not isinstance(facts, dict) or "tokenizer" not in facts:
        return ""
    version = "".join(ch for ch in str(facts["tokenizer"])[:8] if ch.isalnum())
    kind = "vision" if facts.get("vision") else "text-only"
    note = f"   model: tekken {version}, {kind}"
    if {"tokenizer": version, "vision": bool(facts.get("vision"))} != TESTED_MODEL:
        note += " <- tests assume tekken v13, text-only (see tests/vllm_reference/README.md)"
    return note


RENEW_DAYS = 30
"""The gateway role signs a new certificate on any run within this many days of the end."""


def cert_days(value: Any) -> int | None:
    """The days-left figure a gateway reported, if it is a plain number."""
    if not isinstance(value, str) or not value.lstrip("-").isdigit() or len(value) > 6:
        return None
    return int(value)


def cert_note(days: int | None) -> str:
    if days is None:
        return "   certificate: unreadable (/etc/nginx/tls/gateway.crt)"
    if days < 0:
        return f"   certificate: expired {-days} days ago: run site.yml for the gateways"
    if days < RENEW_DAYS:
        return f"   certificate: expires in {days} days: run site.yml for the gateways (renews it)"
    return ""


def probe_argument(want: dict[str, dict[str, Any]]) -> str:
    """The probe's one argument: per unit, what it needs on the host (no pins)."""
    return json.dumps(
        {unit: {k: v for k, v in w.items() if k != "pin"} for unit, w in want.items()},
        sort_keys=True,
    )


@dataclass
class Report:
    """The table's lines (header first) and how many services need attention."""

    lines: list[str] = field(default_factory=list)
    problems: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    def render(self) -> str:
        return "\n".join(self.lines)


def run(
    inventory_path: Path, limit: str | None, forks: int, accept_new_host_keys: bool = False
) -> Report:
    hosts = inventory.load(inventory_path, limit)
    if not hosts:
        raise CcprovError(f"no hosts in {inventory_path}")
    source = probes.source("status_probe")
    by_args: dict[str, list[inventory.Host]] = {}
    wants: dict[str, dict[str, dict[str, Any]]] = {}
    for host in hosts:
        wants[host.name] = expected(host)
        by_args.setdefault(probe_argument(wants[host.name]), []).append(host)
    results = {}
    for args, members in by_args.items():
        for result in ssh.run_probe(
            members, source, [args], forks=forks, accept_new_host_keys=accept_new_host_keys
        ):
            results[result.host.name] = result

    report = Report()
    width = max(len(h.name) for h in hosts)
    report.lines.append(
        f"{'HOST':<{width}}  {'GROUP':<12}  {'SERVICE':<8} {'STATE':<9} {'PIN':<8} "
        f"{'INSTALLED':<10} {'HEALTH':<10} {'CACHE':<7} GPUS"
    )
    for host in hosts:
        result = results[host.name]
        if not isinstance(result.data, dict):
            report.problems += 1
            report.lines.append(
                f"{host.name:<{width}}  {host.kind:<12}  UNREACHABLE: "
                f"{result.error or 'the probe answered something that is not a report'}"
            )
            continue
        # The host's answer is untrusted: only printable text of the expected kinds.
        found_gpus = result.data.get("gpus")
        gpus = (
            "; ".join(hostile.printable(g, 80) for g in found_gpus if isinstance(g, str))
            if isinstance(found_gpus, list)
            else "-"
        )
        gpus = gpus or "-"
        services = result.data.get("services")
        services = services if isinstance(services, dict) else {}
        if not wants[host.name]:
            report.lines.append(
                f"{host.name:<{width}}  {host.kind:<12}  {'-':<8} {'-':<9} {'-':<8} "
                f"{'-':<10} {'-':<10} {'-':<7} {gpus}"
            )
        for unit, want in wants[host.name].items():
            raw = services.get(unit)
            raw = raw if isinstance(raw, dict) else {}
            got: dict[str, Any] = {
                k: hostile.printable(v, 40) for k, v in raw.items() if isinstance(v, str)
            }
            got["model"] = raw.get("model")
            if unit == "nginx":
                days = cert_days(got.get("cert_days"))
                # Unreadable (a probe without root) is said, not counted; expired is.
                ok = got.get("active") == "active" and (days is None or days >= 0)
                health = f"cert={days}d" if days is not None else "cert=?"
                got = {**got, "installed": "-", "health": health}
                note = cert_note(days)
            else:
                ok = (
                    got.get("active") == "active"
                    and got.get("installed") == want["pin"]
                    and got.get("health") == "ok"
                )
                note = model_note(got.get("model"))
            report.problems += not ok
            installed = got.get("installed") or "none"
            report.lines.append(
                f"{host.name:<{width}}  {host.kind:<12}  {unit:<8} {got.get('active', '?'):<9} "
                f"{want['pin']:<8} {installed:<10} {got.get('health', '?'):<10} "
                f"{got.get('prefix_cache', '-'):<7} {gpus}"
                + ("" if ok else "   <- needs attention")
                + note
            )
    bad = report.problems
    report.lines.append(f"{len(hosts)} hosts: {'all healthy' if not bad else f'{bad} problem(s)'}")
    return report
