"""bench/results.json (the figures, kept between runs: a part not measured this time keeps
its last ones) and bench/README.md, rendered from them by the template report.md.j2."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import jinja2

from bench.common import version
from bench.gateway import PACED_EVERY_S
from tests.support.paths import CLAUDE

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
README = HERE / "README.md"

# Markdown, not HTML: nothing to escape.
_templates = jinja2.Environment(  # noqa: S701
    loader=jinja2.FileSystemLoader(HERE),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
_templates.filters["json"] = json.dumps


def machine() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "claude": version(CLAUDE) if CLAUDE.exists() else "not installed",
    }


def load() -> dict[str, Any]:
    """The figures so far, with this run's machine."""
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["machine"] = machine()
    return results


def record(results: dict[str, Any], name: str, section: dict[str, Any]) -> None:
    """SECTION's figures as part NAME, stamped with this run's machine; saved at once, so a
    later failure keeps what was measured."""
    m = results["machine"]
    results[name] = section
    section["measured_on"] = f"{m['date']}, {m['cpus']} cores, {m['platform']}"
    save(results)


def save(results: dict[str, Any]) -> None:
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    README.write_text(render(results))


def twenty_to_one(fleet: dict[str, Any], phase: str) -> float | None:
    """Median over 20 hosts / median over 1 host, when both were measured."""
    one, many = (fleet.get(size, {}).get(phase, {}).get("median") for size in ("1", "20"))
    return many / one if one and many else None


def render(results: dict[str, Any]) -> str:
    """bench/README.md for RESULTS."""
    fleet = results.get("fleet", {})
    gateway = results.get("gateway", {})
    # The role's own settings (no +variant) at the most workers: rows come in worker order.
    paced = [(k, r) for k, r in gateway.items() if k.endswith("-stream-paced-c50") and "+" not in k]
    affinity = results.get("affinity", {})
    return _templates.get_template("report.md.j2").render(
        results=results,
        machine=results["machine"],
        fleet_ratio={phase: twenty_to_one(fleet, phase) for phase in ("fresh", "floor")},
        paced=paced[-1] if paced else None,
        paced_every_s=PACED_EVERY_S,
        tried={
            k.removesuffix("-plain-c50"): r for k, r in gateway.items() if k.endswith("-plain-c50")
        },
        affinity_yaml=affinity.get("router_settings", {}).get("affinity+redis") or {},
    )


def affinity_table(result: dict[str, Any]) -> str:
    """The affinity part's table (Markdown), as in bench/README.md."""
    macro = _templates.get_template("affinity_table.md.j2").module.affinity_table  # type: ignore[attr-defined]
    return str(macro(result)).rstrip("\n")
