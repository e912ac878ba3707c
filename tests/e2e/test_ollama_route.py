"""`source claude-switch ollama` / `lmstudio`, then the real `claude -p`, against the Ollama
stand-in (tests/standins/ollama, built from Ollama's source) and the LM Studio one: each
profile works end to end, Claude Code gets by without count_tokens on both, and on Ollama's
default 4096 tokens the answer is silently useless while `ccprov status` says why in one
line."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.cli.test_verify_and_status import ccprov
from tests.e2e.conftest import Developer
from tests.support import role_templates
from tests.support.ollama_standin import LocalServer, running_lmstudio, running_ollama


@pytest.fixture(scope="module")
def switcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """claude-switch as the workstation role renders it."""
    out = tmp_path_factory.mktemp("ollama-switch")
    dest = out / "claude-switch"
    job = role_templates.Job("workstation", "home/.local/bin/claude-switch.j2", dest)
    proc = role_templates.render(out / "work", [job])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def switch_and_run(
    developer: Developer, switcher: Path, backend: str, server: LocalServer, command: str
) -> str:
    """Install the switcher and an env file naming SERVER for BACKEND, then run COMMAND
    after `source claude-switch BACKEND`; the output. ~/notes.txt holds a secret word."""
    bin_dir = developer.home / ".local" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(switcher, bin_dir / "claude-switch")
    env_file = developer.home / ".claude-backends.env"
    prefix = backend.upper()
    env_file.write_text(
        f'{prefix}_BASE_URL="{server.url}"\n{prefix}_TOKEN="{backend}"\n{prefix}_MODEL="devstral"\n'
    )
    notes = developer.home / "notes.txt"
    notes.write_text("the secret word is pelican-7\n")
    if os.geteuid() == 0:
        for path in (
            developer.home / ".local",
            bin_dir,
            bin_dir / "claude-switch",
            env_file,
            notes,
        ):
            shutil.chown(path, developer.name, developer.name)
    env_file.chmod(0o600)
    proc = developer.run(f"source ~/.local/bin/claude-switch {backend} || exit 99; {command}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"claude-switch: {backend} -> {server.url} (model devstral" in proc.stdout
    return proc.stdout


READ_NOTES = 'claude -p "Read $HOME/notes.txt and quote it" --output-format text </dev/null'
# /context counts the session's tokens with /v1/messages/count_tokens (Claude Code 2.1.331's
# countTokens: a failure or an answer without a numeric input_tokens gives null, and the
# command falls back to its own estimate). Headless `-p` turns never ask for a count.
CONTEXT = "claude -p /context --output-format text </dev/null"
ESTIMATED = re.compile(r"\*\*Tokens:\*\* [0-9.]+k / ")


def test_claude_reads_a_file_through_the_ollama_profile(
    developer: Developer, switcher: Path, tmp_path: Path
) -> None:
    with running_ollama(tmp_path, "--num-ctx", "65536") as server:
        out = switch_and_run(developer, switcher, "ollama", server, f"{READ_NOTES}; {CONTEXT}")
        turns = server.requests()  # /context sends no turn
        counts = server.requests("/v1/messages/count_tokens")
    assert "pelican-7" in out  # a Read call and its result, through Ollama's tool format
    assert len(turns) == 2, turns
    for turn in turns:
        assert turn["status"] == 200 and turn["stream"] and not turn["truncated"], turn
        assert turn["system_kept"] and turn["tools_seen"] == turn["tools_offered"] > 0, turn
    # Ollama has no count_tokens: every count got its 404, and /context still answered.
    assert counts and {c["status"] for c in counts} == {404}
    assert ESTIMATED.search(out), out


def test_on_the_default_window_the_answer_is_lost_and_status_says_why(
    developer: Developer, switcher: Path, tmp_path: Path
) -> None:
    with running_ollama(tmp_path) as server:
        out = switch_and_run(developer, switcher, "ollama", server, READ_NOTES)
        turn = server.requests()[0]
        report = ccprov(developer.home, "status", env={"CLAUDE_SWITCH_BACKEND": "ollama"})
    # Exit 0 and an answer, but the prompt was cut: no tool, no file, no error.
    assert "pelican-7" not in out
    assert turn["status"] == 200 and turn["num_ctx"] == 4096 and turn["truncated"], turn
    assert turn["tools_seen"] == 0, turn
    warnings = [line.strip() for line in report.stdout.splitlines() if "WARNING" in line]
    assert warnings == [
        "WARNING: context 4096 tokens (loaded now, ollama ps): Ollama cuts Claude Code's"
        " ~20k-token prompt from the front without an error. Fix: run the server with"
        " OLLAMA_CONTEXT_LENGTH=64000 (ollama serve), or put PARAMETER num_ctx 64000 in the"
        " model's Modelfile (ollama create)"
    ]
    assert report.returncode == 1


def test_claude_through_the_lmstudio_profile_without_count_tokens(
    developer: Developer, switcher: Path, tmp_path: Path
) -> None:
    """LM Studio answers count_tokens 200 with an error body (lmstudio-bug-tracker#2055,
    #618): Claude Code finds no number in it and falls back, as for Ollama's 404."""
    with running_lmstudio(tmp_path, "--context-length", "65536") as server:
        out = switch_and_run(developer, switcher, "lmstudio", server, f"{READ_NOTES}; {CONTEXT}")
        counts = server.requests("/v1/messages/count_tokens")
    assert "pelican-7" in out
    assert counts and {json.dumps(c["body"]) for c in counts} == {
        json.dumps({"error": "Unexpected endpoint or method. (POST"
                    " /v1/messages/count_tokens?beta=true)"})
    }  # fmt: skip
    assert ESTIMATED.search(out), out
