"""Mistral Vibe as the vibe-orchestrator's local agent: `ccprov workstation --agent
mistral-vibe` on this machine, then a headless `vibe -p` answering from the vLLM stand-in
(the gateway's OpenAI-compatible /v1). It needs Python >= 3.12: this controller has one
under pyenv, while Debian 12's python3 (3.11) must be refused up front, naming the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CCPROV = str(Path(sys.executable).parent / "ccprov")


def onboard(home: Path, backend, python: str) -> subprocess.CompletedProcess[str]:
    key = home.parent / "gateway.key"
    key.write_text(backend.api_key + "\n")
    command = [
        CCPROV,
        "workstation",
        "--base-url",
        backend.url,
        "--token-file",
        str(key),
        "--yes",
        "--no-verify",
        "--agent",
        "mistral-vibe",
        "--vibe-python",
        python,
    ]
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_vibe_answers_headless_from_the_gateway(standin_vllm, agents_home) -> None:
    home = agents_home  # onboarded with --agent mistral-vibe (tests/e2e/conftest.py)
    env_file = home / ".vibe/.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert standin_vllm.api_key not in (home / ".vibe/config.toml").read_text()
    skill = (home / ".claude/skills/vibe-orchestrator/SKILL.md").read_text()
    # Both agents are installed here: the skill runs the first (OpenCode), and names it.
    assert 'opencode run "<self-contained prompt>"' in skill
    project = home / "project"
    run = subprocess.run(
        [str(home / ".local/bin/vibe"), "-p", "Say OK", "--output", "text"],
        cwd=project,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "OK"


def test_python_311_is_refused_before_anything_is_installed(standin_vllm, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc = onboard(home, standin_vllm, "/usr/bin/python3")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Mistral Vibe needs Python >= 3.12" in out
    assert "3.11" in out and "--vibe-python" in out
    assert "Traceback" not in out
    assert not (home / ".local/share/ccprov/mistral-vibe").exists()
