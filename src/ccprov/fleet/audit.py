"""`ccprov audit`: every host of an inventory scanned for compromised LiteLLM, in parallel.

The per-host scan is the role's guard (module_utils/litellm_guard.py `audit`), sent over SSH.
A host is COMPROMISED (a denylisted litellm or litellm_init.pth), WARNING (start-up code:
an unexpected .pth line, sitecustomize / usercustomize), PARTIAL (something could not be
read, or no Python environment was seen at all), UNREACHABLE, or clean. Anything but
clean exits 1; --allow-partial lets PARTIAL through (still printed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccprov.errors import CcprovError
from ccprov.fleet import guard, hostile, inventory, ssh

# How many unreadable paths the table names per host (JSON has the probe's list).
SHOWN_UNREADABLE = 5


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if "{{" not in str(v)]


def policy_for(
    host: inventory.Host, extra_allowed: list[str], roots: list[str] | None = None
) -> dict[str, Any]:
    policy = dict(guard.load().DEFAULT_POLICY)
    if roots:
        policy["roots"] = roots
    # The role's variable; the old, never-documented name only when it is absent.
    denylist = _strings(
        host.variables.get("litellm_gateway_denylist", host.variables.get("litellm_denylist"))
    )
    if denylist:
        policy["denylist"] = sorted({*policy["denylist"], *denylist})
    policy["allowed_pth"] = [*policy["allowed_pth"], *extra_allowed]
    return policy


def _is_false(value: Any) -> bool:
    return value is False or str(value).strip().lower() in ("false", "no", "0", "off")


def become_for(host: inventory.Host) -> tuple[bool | None, str | None]:
    """(become for ssh.run_probe, why the scan runs without privilege when it must)."""
    if host.connection == "local":
        return None, None  # runs as whoever runs ccprov
    if _is_false(host.variables.get("ansible_become", True)):
        return False, "ansible_become is false in the inventory"
    method = str(host.variables.get("ansible_become_method", "sudo"))
    if method != "sudo":
        return False, f"become method {method} is not supported by ccprov audit (sudo -n only)"
    return None, None


def _texts(items: Any, fields: tuple[str, ...], what: str) -> list[dict[str, str]]:
    """ITEMS as a list of dicts whose FIELDS are printable strings (ValueError if not)."""
    if not isinstance(items, list):
        raise ValueError(f"{what} is not a list")
    out = []
    for item in items:
        if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in fields):
            raise ValueError(f"an entry of {what} lacks {', '.join(fields)}")
        out.append({f: hostile.printable(item[f]) for f in fields})
    return out


def answer(data: Any) -> dict[str, Any]:
    """The audit probe's answer, checked field by field and made printable: any user on
    an audited host can name files (paths reach the terminal), and a compromised host can
    answer anything."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    unreadable = _texts(data.get("unreadable", []), ("path", "error"), "unreadable")
    count = data.get("unreadable_count", len(unreadable))
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("unreadable_count is not a count")
    roots = data.get("roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise ValueError("roots is not a list of paths")
    return {
        "litellm": _texts(data.get("litellm", []), ("version",), "litellm"),
        "findings": _texts(data.get("findings", []), ("severity", "what", "path"), "findings"),
        "unreadable": unreadable,
        "unreadable_count": count,
        "site_dirs": bool(data.get("site_dirs")),
        "roots": [hostile.printable(r) for r in roots],
    }


def summarize(
    result: ssh.HostResult, allow_partial: bool = False
) -> tuple[str, str, list[str], bool]:
    """(state, litellm versions, lines, needs attention) for one host."""
    if result.data is None:
        return "UNREACHABLE", "-", [result.error or "no answer", *result.notes], True
    try:
        data = answer(result.data)
    except (TypeError, ValueError, KeyError) as exc:
        # One host's malformed answer is that host's line, never the whole audit's crash.
        why = hostile.printable(f"the probe's answer is malformed: {exc}")
        return "BAD ANSWER", "-", [why], True
    versions = ", ".join(sorted({i["version"] for i in data["litellm"]})) or "none"
    findings = data["findings"]
    lines = [f"{f['severity']}: {f['what']} ({f['path']})" for f in findings]
    unreadable = data["unreadable"]
    count = data["unreadable_count"]
    partial = bool(count) or not data["site_dirs"]
    if count:
        shown = ", ".join(f"{u['path']} ({u['error']})" for u in unreadable[:SHOWN_UNREADABLE])
        more = f" and {count - SHOWN_UNREADABLE} more" if count > SHOWN_UNREADABLE else ""
        lines.append(f"partial: could not read {count} path(s): {shown}{more}")
    if not data["site_dirs"]:
        roots = " ".join(data["roots"])
        lines.append(f"partial: no site-packages/dist-packages seen under {roots}")
    lines += result.notes
    if any(f["severity"] == "critical" for f in findings):
        state = "COMPROMISED"
    elif findings:
        state = "WARNING"
    elif partial:
        state = "PARTIAL"
    else:
        state = "clean"
    attention = state != "clean" and not (state == "PARTIAL" and allow_partial)
    return state, versions, lines, attention


def _unreadable_of(data: Any) -> list[dict[str, str]]:
    try:
        return answer(data)["unreadable"] if data is not None else []
    except (TypeError, ValueError, KeyError):
        return []


def _sudo_failed(result: ssh.HostResult) -> bool:
    return (
        result.data is None
        and "sudo" in (result.error or "")
        and "probe failed" in (result.error or "")
    )


@dataclass(frozen=True)
class Report:
    """Per host, in inventory order: host, group, state, litellm (versions), findings
    (lines), attention, privileged, unreadable."""

    hosts: list[dict[str, Any]]

    @property
    def needing_attention(self) -> int:
        return sum(bool(r["attention"]) for r in self.hosts)

    @property
    def exit_code(self) -> int:
        return 1 if self.needing_attention else 0

    def render(self, as_json: bool = False) -> str:
        """The report as JSON, or as the table with its summary line."""
        if as_json:
            return json.dumps(self.hosts, indent=2)
        report, bad = self.hosts, self.needing_attention
        width = max(len(r["host"]) for r in report)
        lines = [f"{'HOST':<{width}}  {'GROUP':<12}  {'STATE':<11}  LITELLM"]
        for r in report:
            lines.append(
                f"{r['host']:<{width}}  {r['group']:<12}  {r['state']:<11}  {r['litellm']}"
            )
            lines += [f"{'':<{width}}    - {line}" for line in r["findings"]]
        allowed = sum(r["state"] == "PARTIAL" and not r["attention"] for r in report)
        lines.append(
            f"{len(report)} hosts audited: {len(report) - bad - allowed} clean,"
            + (f" {allowed} partial (--allow-partial)," if allowed else "")
            + f" {bad} need attention"
        )
        return "\n".join(lines)


def run(
    inventory_path: Path,
    limit: str | None,
    forks: int,
    allow_pth: list[str],
    roots: list[str],
    allow_partial: bool = False,
    accept_new_host_keys: bool = False,
) -> Report:
    """Scan every host of the inventory (matching LIMIT); what was found, per host."""
    hosts = inventory.load(inventory_path, limit)
    if not hosts:
        raise CcprovError(f"no hosts in {inventory_path}" + (f" match {limit}" if limit else ""))
    source = guard.source()
    # One probe run per (policy, become): inventories may extend the denylist per group.
    groups: dict[tuple[str, bool | None], list[inventory.Host]] = {}
    why_unprivileged: dict[str, str] = {}
    for host in hosts:
        become, why = become_for(host)
        if why:
            why_unprivileged[host.name] = why
        policy = json.dumps(policy_for(host, allow_pth, roots), sort_keys=True)
        groups.setdefault((policy, become), []).append(host)
    results: dict[str, ssh.HostResult] = {}
    for (policy, become), group in groups.items():
        for result in ssh.run_probe(
            group,
            source,
            [policy],
            forks=forks,
            become=become,
            accept_new_host_keys=accept_new_host_keys,
        ):
            results[result.host.name] = result
        # sudo -n refused (a password is needed, or no sudo): scan unprivileged, and say so.
        retry = [results[h.name] for h in group if _sudo_failed(results[h.name])]
        if retry:
            again = ssh.run_probe(
                [r.host for r in retry],
                source,
                [policy],
                forks=forks,
                become=False,
                accept_new_host_keys=accept_new_host_keys,
            )
            for first, second in zip(retry, again, strict=True):
                error = (first.error or "").removeprefix("probe failed: ")
                why_unprivileged[first.host.name] = f"sudo -n failed ({error})"
                second.notes[:0] = first.notes
                results[second.host.name] = second

    report = []
    for host in hosts:
        result = results[host.name]
        if result.data is not None and result.data.get("euid") not in (0, None):
            reason = why_unprivileged.get(host.name, "not root and no become")
            result.notes.insert(
                0,
                f"unprivileged: scanned as uid {hostile.printable(result.data['euid'], 20)},"
                f" not root ({reason});"
                " what it could not read is listed",
            )
        state, versions, lines, attention = summarize(result, allow_partial)
        report.append(
            {
                "host": host.name,
                "group": host.kind,
                "state": state,
                "litellm": versions,
                "findings": lines,
                "attention": attention,
                "privileged": None if result.data is None else result.data.get("euid") == 0,
                "unreadable": _unreadable_of(result.data),
            }
        )
    return Report(report)
