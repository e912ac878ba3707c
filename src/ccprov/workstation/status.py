"""`ccprov status`: the configured backends, the active one, and whether each answers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ccprov.errors import CcprovError
from ccprov.workstation import envfile, probe, status_lmstudio, status_ollama


def describe(backend: envfile.Backend) -> tuple[bool, str]:
    """(answers with the configured model, one-line state)."""
    result, models = probe.list_models(backend.base_url, backend.token, ca_file=backend.ca_file)
    if not result.ok:
        if result.status in (401, 403):
            return False, f"key rejected ({result.status}): the gateway is up but refuses this key"
        if result.status is None and not result.detail.startswith(probe.TLS_PROBLEM_PREFIXES):
            return False, f"down: {result.detail}"
        return False, result.detail
    listed_ok = (
        status_ollama.serves(backend.model, models)
        if backend.name == "ollama"
        else backend.model in models
    )
    if models and not listed_ok:
        listed = ", ".join(models[:5])
        return (
            False,
            f"up ({result.latency_ms:.0f} ms), but model '{backend.model}' is not served"
            f" (has: {listed})",
        )
    return True, f"up ({result.latency_ms:.0f} ms), serves {backend.model}"


def _context_line(backend: envfile.Backend) -> tuple[bool, str] | None:
    """Servers on the workstation run the model with a window of their own, often too small
    for Claude Code: Ollama then cuts the prompt silently, LM Studio refuses it."""
    if backend.name == "ollama":
        return status_ollama.context_line(backend.base_url, backend.model)
    if backend.name == "lmstudio":
        return status_lmstudio.context_line(backend.base_url, backend.model)
    return None


@dataclass
class Report:
    """This workstation's backends; lines() probes them one by one (the table's lines as
    each answers), and then healthy says whether the watched one answered."""

    path: Path
    backends: list[envfile.Backend]
    active: str
    healthy: bool = True

    @property
    def watched(self) -> str:
        """The backend whose health decides the exit status: the active one, else local."""
        return self.active if self.active and self.active != "cloud" else "local"

    @property
    def exit_code(self) -> int:
        return 0 if self.healthy else 1

    def lines(self) -> Iterator[str]:
        yield f"env file: {self.path}"
        yield f"active in this shell: {self.active or 'cloud (nothing switched)'}"
        for backend in self.backends:
            if not backend.configured:
                yield f"  {backend.name:<9} not configured"
                continue
            ok, state = describe(backend)
            context = _context_line(backend) if ok else None
            if context:
                too_small, line = context
                state += f"\n              {line}"
                ok = not too_small
            marker = "*" if backend.name == self.active else " "
            yield (
                f"{marker} {backend.name:<9} {backend.base_url}  model {backend.model}"
                f"  key {envfile.mask(backend.token)}"
                + (f"\n              CA {backend.ca_file}" if backend.ca_file else "")
                + f"\n              {state}"
            )
            if backend.name == self.watched and not ok:
                self.healthy = False


def run(env_file: Path | None) -> Report:
    """The env file's backends, checked for use; a file that cannot be used raises a plain
    CcprovError with exit status 2."""
    path = env_file or envfile.default_path()
    try:
        values = envfile.load(path)
    except envfile.EnvFileError as exc:
        raise CcprovError(str(exc), exit_code=2, plain=True) from None
    backends = envfile.backends(values)
    for backend in backends:
        problem = probe.url_problem(backend.base_url) if backend.configured else None
        if problem:
            raise CcprovError(
                f"{path}: {backend.name.upper()}_BASE_URL"
                f" '{probe.shown_url(backend.base_url)}' {problem}; fix that line"
                " (or run `ccprov workstation` again)",
                exit_code=2,
                plain=True,
            )
    return Report(path, backends, os.environ.get("CLAUDE_SWITCH_BACKEND", ""))
