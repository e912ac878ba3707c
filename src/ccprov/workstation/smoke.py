"""`ccprov smoke`: the reference page's verified-tests table, run with the real `claude` CLI.

Each case (smoke_cases.py) is one headless Claude Code run against the configured backend,
checked the way a person would read the answer, and timed. With --conformance: the gateway's
Anthropic API checked with direct HTTP requests (conformance.py); with --agents: the
harnesses compared (agents_compare.py). prepare() checks the request, SmokeRun.lines() runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ccprov.errors import CcprovError, UsageProblem
from ccprov.workstation import envfile, probe
from ccprov.workstation.smoke_cases import Case, cases, claude_env


@dataclass
class Outcome:
    case: Case
    passed: bool
    seconds: float
    note: str


def run_case(
    claude: str, case: Case, backend: envfile.Backend, workdir: Path, home: Path, timeout: float
) -> Outcome:
    command = [claude, "-p", case.prompt, *case.flags, "--allowedTools", "Read"]
    if case.with_model_flag:
        command += ["--model", backend.model]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            command,
            cwd=workdir,
            env=claude_env(backend, home),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(case, False, time.perf_counter() - start, f"no answer in {timeout:.0f}s")
    seconds = time.perf_counter() - start
    output = proc.stdout.strip()
    if proc.returncode != 0:
        reason = (proc.stderr.strip() or output).splitlines()[-1:] or [f"exit {proc.returncode}"]
        return Outcome(case, False, seconds, f"claude exited {proc.returncode}: {reason[0][:160]}")
    passed = case.check(output)
    first = " ".join(output.split())[:80]
    return Outcome(
        case, passed, seconds, first if passed else f"expected {case.expect}; got: {first}"
    )


def find_claude() -> str | None:
    return shutil.which("claude")


def run(backend: envfile.Backend, claude: str, timeout: float, only: str | None) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="ccprov-smoke-") as tmp:
        workdir = Path(tmp) / "project"
        home = Path(tmp) / "home"
        workdir.mkdir()
        home.mkdir()
        selected = [c for c in cases(workdir) if not only or only.lower() in c.name.lower()]
        return [run_case(claude, case, backend, workdir, home, timeout) for case in selected]


def table(outcomes: list[Outcome]) -> str:
    lines = ["| Test | Result |", "|---|---|"]
    for o in outcomes:
        verdict = "Pass" if o.passed else "FAIL"
        lines.append(f"| {o.case.name} | {verdict} ({o.seconds:.1f}s): {o.note} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class SmokeRequest:
    """What `ccprov smoke` was asked to do."""

    backend: str = "local"
    env_file: Path | None = None
    claude_path: str | None = None
    only: str | None = None
    timeout: float = 300.0
    agents: bool = False
    runs: int = 3
    conformance: bool = False


@dataclass
class SmokeRun:
    """A checked request: title is its first line; lines() runs it and yields the rest of
    the report; afterwards failed counts what did not pass."""

    request: SmokeRequest
    backend: envfile.Backend
    claude: str = ""
    """The claude executable (the reference cases only)."""
    failed: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    @property
    def title(self) -> str:
        against = f"against {self.backend.base_url} (model {self.backend.model})"
        if self.request.conformance:
            return f"Conformance checks {against}"
        if self.request.agents:
            return f"Harness comparison {against}, median of {self.request.runs} run(s) per cell"
        return f"Claude Code smoke test {against}"

    def lines(self) -> Iterator[str]:
        request, backend = self.request, self.backend
        if request.conformance:
            from ccprov.probes import conformance

            target = conformance.Target(
                backend.base_url, backend.token, backend.model, request.timeout, backend.ca_file
            )
            for result in conformance.run(target, request.only):
                self.failed += not result.ok
                yield result.line()
        elif request.agents:
            from ccprov.workstation import agents_compare

            names, cells = agents_compare.compare(
                backend, request.claude_path, request.runs, request.timeout
            )
            yield agents_compare.render(names, cells)
            yield "✗: an answer did not pass the check (expected with a stand-in backend)"
            self.failed = sum(1 for row in cells.values() for c in row.values() if c and c.error)
        else:
            outcomes = run(backend, self.claude, request.timeout, request.only)
            yield table(outcomes)
            self.failed = sum(not o.passed for o in outcomes)
            yield f"{len(outcomes) - self.failed} passed, {self.failed} failed"


def prepare(request: SmokeRequest) -> SmokeRun:
    """The backend from the env file, checked (configured, its TLS certificate accepted),
    and what the mode needs; a CcprovError names what to fix."""
    values = envfile.load(request.env_file)
    chosen = next(b for b in envfile.backends(values) if b.name == request.backend)
    if not chosen.configured or not chosen.token or not chosen.model:
        raise CcprovError(
            f"backend '{request.backend}' is not configured in the env file;"
            " run `ccprov workstation`"
        )
    # The certificate first (a handshake, no key sent): one plain line instead of every
    # case failing on it. Verified with LOCAL_CA_CERT, else the system's trust store.
    problem = probe.tls_check(chosen.base_url, chosen.ca_file)
    if problem:
        raise CcprovError(problem, plain=True)
    if request.conformance:
        return SmokeRun(request, chosen)
    if request.agents:
        if request.backend != "local":
            # OpenCode and Vibe are configured (by ccprov workstation) for the gateway only.
            raise UsageProblem(
                "--agents compares the harnesses on the gateway: use --backend local"
            )
        return SmokeRun(request, chosen)
    claude = request.claude_path or find_claude()
    if not claude:
        raise CcprovError(
            "claude not found: npm install -g @anthropic-ai/claude-code, or pass --claude PATH"
        )
    return SmokeRun(request, chosen, claude)
