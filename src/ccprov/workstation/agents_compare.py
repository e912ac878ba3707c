"""`ccprov smoke --agents`: the reference page's "Performance vs other tools" table.

The same prompts (code generation, reasoning, error recovery) go through each installed
harness (Claude Code, OpenCode, Mistral Vibe) against the same backend; each cell is the
median wall time of N headless runs. Against an instant stand-in backend the times are
each harness's own overhead; against the live stack they are end to end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ccprov.workstation import envfile, smoke_cases

PROMPTS = ("Code generation", "Reasoning", "Error recovery")


@dataclass(frozen=True)
class Harness:
    name: str
    executable: str
    command: Callable[[str, str, envfile.Backend], list[str]]
    """(executable, prompt, backend) -> argv."""
    own_home: bool
    """True: runs with a fresh HOME (Claude Code, configured by environment); False: the
    developer's own HOME, where ccprov wrote the agent's config."""


@dataclass
class Cell:
    seconds: list[float] = field(default_factory=list)
    passed: list[bool] = field(default_factory=list)
    error: str = ""

    def text(self) -> str:
        if self.error and not self.seconds:
            return f"error: {self.error}"
        median = statistics.median(self.seconds)
        mark = "" if all(self.passed) else " ✗"
        return f"{median:.1f}s{mark}"


def _claude(exe: str, prompt: str, backend: envfile.Backend) -> list[str]:
    return [exe, "-p", prompt, "--output-format", "text", "--model", backend.model]


def _opencode(exe: str, prompt: str, backend: envfile.Backend) -> list[str]:
    return [exe, "run", prompt]


def _vibe(exe: str, prompt: str, backend: envfile.Backend) -> list[str]:
    return [exe, "-p", prompt, "--output", "text"]


def _which(name: str) -> str | None:
    return shutil.which(name) or (
        str(p) if (p := Path.home() / ".local/bin" / name).exists() else None
    )


def harnesses(claude: str | None) -> list[tuple[str, Harness | None]]:
    """Every harness of the table, None where it is not installed."""
    found: list[tuple[str, Harness | None]] = []
    specs: list[tuple[str, str | None, Callable[[str, str, envfile.Backend], list[str]], bool]] = [
        ("Claude Code", claude or _which("claude"), _claude, True),
        ("OpenCode", _which("opencode"), _opencode, False),
        ("Vibe", _which("vibe"), _vibe, False),
    ]
    for name, exe, command, own_home in specs:
        found.append((name, Harness(name, exe, command, own_home) if exe else None))
    return found


def run_once(
    harness: Harness,
    case: smoke_cases.Case,
    backend: envfile.Backend,
    workdir: Path,
    home: Path,
    timeout: float,
) -> tuple[float, bool, str]:
    own = harness.own_home
    env = smoke_cases.claude_env(backend, home) if own else {**os.environ, "NO_COLOR": "1"}
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            harness.command(harness.executable, case.prompt, backend),
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, False, f"no answer in {timeout:.0f}s"
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        return seconds, False, (lines[-1] if lines else f"exit {proc.returncode}")[:120]
    return seconds, case.check(proc.stdout), ""


def compare(
    backend: envfile.Backend, claude: str | None, runs: int, timeout: float
) -> tuple[list[str], dict[str, dict[str, Cell | None]]]:
    """(harness names, {prompt: {harness: cell or None if not installed}})."""
    table: dict[str, dict[str, Cell | None]] = {}
    found = harnesses(claude)
    with tempfile.TemporaryDirectory(prefix="ccprov-agents-") as tmp:
        workdir = Path(tmp) / "project"
        home = Path(tmp) / "home"
        workdir.mkdir()
        home.mkdir()
        chosen = [c for c in smoke_cases.cases(workdir) if c.name.split(" (")[0] in PROMPTS]
        for case in chosen:
            row: dict[str, Cell | None] = {}
            for name, harness in found:
                if harness is None:
                    row[name] = None
                    continue
                cell = Cell()
                for _ in range(runs):
                    seconds, passed, error = run_once(
                        harness, case, backend, workdir, home, timeout
                    )
                    if error:
                        cell.error = error
                        break
                    cell.seconds.append(seconds)
                    cell.passed.append(passed)
                row[name] = cell
            table[case.name.split(" (")[0]] = row
    return [name for name, _ in found], table


def render(names: list[str], table: dict[str, dict[str, Cell | None]]) -> str:
    lines = ["| Test | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for prompt, row in table.items():
        cells = [c.text() if c else "not installed" for c in (row[n] for n in names)]
        lines.append(f"| {prompt} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
