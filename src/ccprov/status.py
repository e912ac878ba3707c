"""`ccprov status`: the configured backends, the active one, and whether each answers."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ccprov import envfile, probe


def describe(backend: envfile.Backend) -> tuple[bool, str]:
    """(answers with the configured model, one-line state)."""
    result, models = probe.list_models(backend.base_url, backend.token, ca_file=backend.ca_file)
    if not result.ok:
        if result.status in (401, 403):
            return False, f"key rejected ({result.status}): the gateway is up but refuses this key"
        if result.status is None and not result.detail.startswith(probe.TLS_PROBLEM_PREFIXES):
            return False, f"down: {result.detail}"
        return False, result.detail
    if models and backend.model not in models:
        listed = ", ".join(models[:5])
        return (
            False,
            f"up ({result.latency_ms:.0f} ms), but model '{backend.model}' is not served"
            f" (has: {listed})",
        )
    return True, f"up ({result.latency_ms:.0f} ms), serves {backend.model}"


def run(env_file: Path | None) -> int:
    path = env_file or envfile.default_path()
    try:
        values = envfile.load(path)
    except envfile.EnvFileError as exc:
        click.echo(f"ccprov status: {exc}", err=True)
        return 2
    for backend in envfile.backends(values):
        problem = probe.url_problem(backend.base_url) if backend.configured else None
        if problem:
            click.echo(
                f"ccprov status: {path}: {backend.name.upper()}_BASE_URL"
                f" '{probe.shown_url(backend.base_url)}' {problem}; fix that line"
                " (or run `ccprov workstation` again)",
                err=True,
            )
            return 2
    active = os.environ.get("CLAUDE_SWITCH_BACKEND", "")
    click.echo(f"env file: {path}")
    click.echo(f"active in this shell: {active or 'cloud (nothing switched)'}")
    watched = active if active and active != "cloud" else "local"
    healthy = True
    for backend in envfile.backends(values):
        if not backend.configured:
            click.echo(f"  {backend.name:<9} not configured")
            continue
        ok, state = describe(backend)
        marker = "*" if backend.name == active else " "
        click.echo(
            f"{marker} {backend.name:<9} {backend.base_url}  model {backend.model}"
            f"  key {envfile.mask(backend.token)}"
            + (f"\n              CA {backend.ca_file}" if backend.ca_file else "")
            + f"\n              {state}"
        )
        if backend.name == watched and not ok:
            healthy = False
    return 0 if healthy else 1
