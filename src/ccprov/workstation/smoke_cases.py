"""The reference cases `ccprov smoke` runs with the real `claude` CLI, and the environment it
runs them in. Its own module because two reports use them: smoke.py's table runs them all,
agents_compare.py runs three through each harness (and smoke.py calls agents_compare.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ccprov.workstation import envfile

TOML_SAMPLE = """\
# agent definition used by the smoke test
[agent]
name = "infra-bot"
purpose = "keeps the staging cluster patched"
schedule = "nightly at 02:30"
"""

BUGGY_SAMPLE = """\
def average(values):
    total = 0
    for v in values:
        total =+ v
    return total / len(values) + 1


def last(items):
    return items[len(items)]
"""


@dataclass(frozen=True)
class Case:
    name: str
    prompt: str
    check: Callable[[str], bool]
    expect: str
    """What a pass means, shown when it fails."""
    flags: tuple[str, ...] = ("--output-format", "text")
    with_model_flag: bool = True


def _has(*words: str) -> Callable[[str], bool]:
    return lambda out: all(w.lower() in out.lower() for w in words)


def _finds_the_bugs(out: str) -> bool:
    """A review, not an echo of the file: it explains at least two of the three bugs."""
    explained = [
        re.search(r"\+=", out) and re.search(r"=\+", out),
        re.search(
            r"\+ ?1\b.*(wrong|incorrect|extra|should|bug)|(wrong|incorrect|extra).*\+ ?1\b",
            out,
            re.I,
        ),
        re.search(
            r"IndexError|out of (range|bounds)|off.by.one|len\(items\) ?- ?1|items\[-1\]", out
        ),
    ]
    return sum(bool(e) for e in explained) >= 2


def cases(workdir: Path) -> list[Case]:
    toml = workdir / "infra.toml"
    toml.write_text(TOML_SAMPLE)
    buggy = workdir / "stats.py"
    buggy.write_text(BUGGY_SAMPLE)
    missing = workdir / "does-not-exist.toml"
    return [
        Case(
            "Simple prompt",
            "Say SELFHOSTED_CLAUDE_TEST_OK",
            _has("SELFHOSTED_CLAUDE_TEST_OK"),
            "the reply contains SELFHOSTED_CLAUDE_TEST_OK",
        ),
        Case(
            "File reading (Read tool)",
            f"Read {toml} and summarize it in one sentence.",
            lambda out: "infra-bot" in out or "staging" in out.lower(),
            "the summary mentions what the file says (infra-bot / staging)",
        ),
        Case(
            "Headless mode (-p flag)",
            "Say HEADLESS_OK",
            _has("HEADLESS_OK"),
            "a JSON result holding HEADLESS_OK",
            flags=("--output-format", "json"),
        ),
        Case(
            "--dangerously-skip-permissions",
            "Say PERMISSIONS_OK",
            _has("PERMISSIONS_OK"),
            "the reply contains PERMISSIONS_OK",
            flags=("--output-format", "text", "--dangerously-skip-permissions"),
        ),
        Case(
            "Without --model flag (ANTHROPIC_MODEL)",
            "Say NO_MODEL_FLAG_OK",
            _has("NO_MODEL_FLAG_OK"),
            "the reply contains NO_MODEL_FLAG_OK",
            with_model_flag=False,
        ),
        Case(
            "Code generation",
            "Write a Python function is_palindrome(s) that ignores case and spaces. "
            "Reply with only the code.",
            lambda out: "def is_palindrome" in out,
            "the reply defines is_palindrome",
        ),
        Case(
            "Code review (3 bugs)",
            f"Read {buggy} and list its bugs with line numbers.",
            _finds_the_bugs,
            "the review names the bugs (=+ instead of +=, the stray + 1, the index out of range)",
        ),
        Case(
            "Reasoning (mutex vs semaphore)",
            "In three bullet points: when would you use a mutex rather than a semaphore?",
            _has("mutex", "semaphore"),
            "the answer talks about both mutex and semaphore",
        ),
        Case(
            "Error recovery (missing file)",
            f"Read {missing} and tell me what it contains.",
            lambda out: bool(
                re.search(r"not exist|not found|no such|missing|doesn't exist", out, re.I)
            ),
            "the reply says the file does not exist",
        ),
    ]


def claude_env(backend: envfile.Backend, home: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "LOGNAME", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    # The variables the switcher exports for this backend, from the same table.
    env.update({"HOME": str(home), **envfile.route_env(backend)})
    if backend.ca_file:
        # Claude Code (Node/Bun) adds this PEM file to its trusted roots (Claude Code docs,
        # "Enterprise network configuration": export NODE_EXTRA_CA_CERTS=/path/to/ca-cert.pem).
        env["NODE_EXTRA_CA_CERTS"] = backend.ca_file
    if os.geteuid() == 0:
        # Claude Code refuses --dangerously-skip-permissions as root outside a sandbox.
        env["IS_SANDBOX"] = "1"
    return env
