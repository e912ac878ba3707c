"""`ccprov audit`: every host of an inventory scanned for compromised LiteLLM, in parallel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ccprov import fleet, guard, inventory


def policy_for(
    host: inventory.Host, extra_allowed: list[str], roots: list[str] | None = None
) -> dict[str, Any]:
    policy = dict(guard.load().DEFAULT_POLICY)
    if roots:
        policy["roots"] = roots
    denylist = host.variables.get("litellm_denylist")
    if isinstance(denylist, list) and denylist:
        policy["denylist"] = sorted({*policy["denylist"], *map(str, denylist)})
    policy["allowed_pth"] = [*policy["allowed_pth"], *extra_allowed]
    return policy


def summarize(result: fleet.HostResult) -> tuple[str, str, list[str]]:
    """(state, litellm versions, finding lines) for one host."""
    if result.data is None:
        return "UNREACHABLE", "-", [result.error or "no answer"]
    versions = ", ".join(sorted({i["version"] for i in result.data.get("litellm", [])})) or "none"
    findings = result.data.get("findings", [])
    lines = [f"{f['severity']}: {f['what']} ({f['path']})" for f in findings]
    if any(f["severity"] == "critical" for f in findings):
        state = "COMPROMISED"
    elif findings:
        state = "WARNING"
    else:
        state = "clean"
    return state, versions, lines


def run(
    inventory_path: Path,
    limit: str | None,
    forks: int,
    allow_pth: list[str],
    roots: list[str],
    as_json: bool,
) -> int:
    hosts = inventory.load(inventory_path, limit)
    if not hosts:
        raise click.ClickException(
            f"no hosts in {inventory_path}" + (f" match {limit}" if limit else "")
        )
    source = guard.source()
    # One policy per host (inventories may extend the denylist per group).
    results: list[fleet.HostResult] = []
    by_policy: dict[str, list[inventory.Host]] = {}
    for host in hosts:
        by_policy.setdefault(
            json.dumps(policy_for(host, allow_pth, roots), sort_keys=True), []
        ).append(host)
    for policy, group in by_policy.items():
        results += fleet.run_probe(group, source, [policy], forks=forks)
    order = {h.name: i for i, h in enumerate(hosts)}
    results.sort(key=lambda r: order[r.host.name])

    bad = 0
    report = []
    for result in results:
        state, versions, lines = summarize(result)
        bad += state != "clean"
        report.append(
            {
                "host": result.host.name,
                "group": result.host.kind,
                "state": state,
                "litellm": versions,
                "findings": lines,
            }
        )
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        width = max(len(r["host"]) for r in report)
        click.echo(f"{'HOST':<{width}}  {'GROUP':<12}  {'STATE':<11}  LITELLM")
        for r in report:
            click.echo(f"{r['host']:<{width}}  {r['group']:<12}  {r['state']:<11}  {r['litellm']}")
            for line in r["findings"]:
                click.echo(f"{'':<{width}}    - {line}")
        click.echo(f"{len(report)} hosts audited: {len(report) - bad} clean, {bad} need attention")
    return 1 if bad else 0
