"""`ccprov status` says, in one line, when Ollama's context window would cut Claude Code's
prompt (src/ccprov/status_ollama.py), against the Ollama stand-in (tests/standins/ollama)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.cli.test_verify_and_status import ccprov
from tests.support.ollama_standin import Ollama, running_ollama

FIX = "Fix: run the server with OLLAMA_CONTEXT_LENGTH=64000 (ollama serve), or put PARAMETER"


def status(tmp_path: Path, server: Ollama, model: str = "devstral") -> tuple[int, list[str]]:
    """`ccprov status` with ollama active; (exit code, the ollama entry's lines)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / ".claude-backends.env").write_text(
        f'OLLAMA_BASE_URL="{server.url}"\nOLLAMA_TOKEN="ollama"\nOLLAMA_MODEL="{model}"\n'
    )
    proc = ccprov(home, "status", env={"CLAUDE_SWITCH_BACKEND": "ollama"})
    lines = [line.strip() for line in proc.stdout.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("* ollama"))
    return proc.returncode, lines[start : start + 3]


def say_ok(server: Ollama) -> None:
    """One request, as Claude Code's first turn: Ollama loads the model with its window."""
    body = {"model": "devstral", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    request = urllib.request.Request(f"{server.url}/v1/messages", data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_the_4096_default_is_one_warning_line_naming_the_fix(tmp_path: Path) -> None:
    with running_ollama(tmp_path) as server:
        # Not loaded yet and no num_ctx in the Modelfile: nothing says the window.
        code, entry = status(tmp_path, server)
        assert "serves devstral" in entry[1]  # `devstral` is Ollama's `devstral:latest`
        assert entry[2].startswith("WARNING: context not known") and FIX in entry[2]
        assert code == 0  # a warning only: the server may set OLLAMA_CONTEXT_LENGTH
        say_ok(server)
        code, entry = status(tmp_path, server)
    assert entry[2].startswith("WARNING: context 4096 tokens (loaded now, ollama ps)")
    assert FIX in entry[2]
    assert code == 1  # known to cut the prompt: the active backend is not usable


def test_a_modelfile_num_ctx_is_read_before_the_model_loads(tmp_path: Path) -> None:
    with running_ollama(tmp_path, "--num-ctx", "65536") as server:
        code, entry = status(tmp_path, server, model="devstral:latest")
    assert entry[2] == "context 65536 tokens (the Modelfile's num_ctx)"
    assert code == 0


def test_a_model_trained_on_less_cannot_be_fixed_by_num_ctx(tmp_path: Path) -> None:
    with running_ollama(tmp_path, "--num-ctx", "65536", "--trained-context", "32768") as server:
        code, entry = status(tmp_path, server)
    assert entry[2].startswith("WARNING: devstral holds at most 32768 tokens")
    assert "use a model with a context of 64000 or more" in entry[2]
    assert code == 1
