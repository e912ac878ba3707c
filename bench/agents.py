"""Part 5: the same prompts through Claude Code, OpenCode and Mistral Vibe (harness overhead)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import BIN, version
from bench.onboarding import fresh_workstation
from tests.support.paths import CLAUDE, find_python312


def agents(runs: int, backend_url: str, key: str) -> dict[str, Any]:
    """`ccprov smoke --agents` in a fresh HOME set up by `ccprov workstation --agent ...`,
    against the instant stand-in: each harness's own overhead per prompt."""
    python = find_python312()
    with tempfile.TemporaryDirectory() as tmp:
        home, env, setup = fresh_workstation(Path(tmp), backend_url, key)
        setup += ["--no-verify", "--agent", "opencode"]
        if python:
            setup += ["--agent", "mistral-vibe", "--vibe-python", python]
        subprocess.run(setup, env=env, check=True, capture_output=True, timeout=900)
        proc = subprocess.run(
            [
                str(BIN / "ccprov"),
                "smoke",
                "--agents",
                "--runs",
                str(runs),
                "--claude",
                str(CLAUDE),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        table = [line for line in proc.stdout.splitlines() if line.startswith("|")]
        local_bin = home / ".local/bin"
        versions = {"Claude Code": version(CLAUDE)}
        for name, exe in (("OpenCode", local_bin / "opencode"), ("Vibe", local_bin / "vibe")):
            versions[name] = version(exe) if exe.exists() else "not installed"
    return {"runs": runs, "table": table, "versions": versions, "exit": proc.returncode}
