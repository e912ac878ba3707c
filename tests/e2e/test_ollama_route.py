"""`source claude-switch ollama`, then the real `claude -p`, against the Ollama stand-in
(tests/standins/ollama, built from Ollama's source): the profile works end to end with a
window that holds Claude Code's prompt, and on Ollama's default 4096 tokens the answer is
silently useless while `ccprov status` says why in one line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.cli.test_verify_and_status import ccprov
from tests.e2e.conftest import Developer
from tests.support import role_templates
from tests.support.ollama_standin import Ollama, running_ollama


@pytest.fixture(scope="module")
def switcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """claude-switch as the workstation role renders it."""
    out = tmp_path_factory.mktemp("ollama-switch")
    dest = out / "claude-switch"
    job = role_templates.Job("workstation", "home/.local/bin/claude-switch.j2", dest)
    proc = role_templates.render(out / "work", [job])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def read_notes_via_ollama(developer: Developer, switcher: Path, server: Ollama) -> str:
    """Install the switcher and an env file naming SERVER, then ask claude to quote a file;
    the output of the switch and of claude."""
    bin_dir = developer.home / ".local" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(switcher, bin_dir / "claude-switch")
    env_file = developer.home / ".claude-backends.env"
    env_file.write_text(
        f'OLLAMA_BASE_URL="{server.url}"\nOLLAMA_TOKEN="ollama"\nOLLAMA_MODEL="devstral"\n'
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
    proc = developer.run(
        "source ~/.local/bin/claude-switch ollama || exit 99; "
        f'claude -p "Read {notes} and quote it" --output-format text </dev/null'
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"claude-switch: ollama -> {server.url} (model devstral" in proc.stdout
    return proc.stdout


def test_claude_reads_a_file_through_the_ollama_profile(
    developer: Developer, switcher: Path, tmp_path: Path
) -> None:
    with running_ollama(tmp_path, "--num-ctx", "65536") as server:
        out = read_notes_via_ollama(developer, switcher, server)
        turns = server.requests()
        asked_to_count = server.requests("/v1/messages/count_tokens")
    assert "pelican-7" in out  # a Read call and its result, through Ollama's tool format
    assert len(turns) == 2, turns
    for turn in turns:
        assert turn["status"] == 200 and turn["stream"] and not turn["truncated"], turn
        assert turn["system_kept"] and turn["tools_seen"] == turn["tools_offered"] > 0, turn
    # Ollama has no count_tokens (404); headless Claude Code does not ask for it.
    assert asked_to_count == []


def test_on_the_default_window_the_answer_is_lost_and_status_says_why(
    developer: Developer, switcher: Path, tmp_path: Path
) -> None:
    with running_ollama(tmp_path) as server:
        out = read_notes_via_ollama(developer, switcher, server)
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
