"""`ccprov status` says, in one line, when the context window of a server on the workstation
is too small for Claude Code: Ollama's would cut its prompt silently (src/ccprov/
status_ollama.py), LM Studio's refuses it (status_lmstudio.py). Against their stand-ins
(tests/standins/ollama, tests/standins/lmstudio)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.cli.test_verify_and_status import ccprov
from tests.support.ollama_standin import LocalServer, running_lmstudio, running_ollama

FIX = "Fix: run the server with OLLAMA_CONTEXT_LENGTH=64000 (ollama serve), or put PARAMETER"


def status(
    tmp_path: Path, server: LocalServer, model: str = "devstral", backend: str = "ollama"
) -> tuple[int, list[str]]:
    """`ccprov status` with BACKEND active; (exit code, its entry's lines)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    prefix = backend.upper()
    (home / ".claude-backends.env").write_text(
        f'{prefix}_BASE_URL="{server.url}"\n{prefix}_TOKEN="{backend}"\n{prefix}_MODEL="{model}"\n'
    )
    proc = ccprov(home, "status", env={"CLAUDE_SWITCH_BACKEND": backend})
    lines = [line.strip() for line in proc.stdout.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith(f"* {backend}"))
    return proc.returncode, lines[start : start + 3]


def say_ok(server: LocalServer) -> None:
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


def test_lmstudio_not_loaded_or_loaded_too_small(tmp_path: Path) -> None:
    fix = "Fix: load it with a context of 64000 or more (lms load MODEL --context-length 64000"
    with running_lmstudio(tmp_path, "--not-loaded") as server:
        code, entry = status(tmp_path, server, backend="lmstudio")
    assert entry[2].startswith("WARNING: devstral is not loaded: LM Studio loads it on first use")
    assert fix in entry[2] and code == 0
    with running_lmstudio(tmp_path) as server:  # loaded with 4096
        code, entry = status(tmp_path, server, backend="lmstudio")
    assert entry[2].startswith("WARNING: loaded with a context of 4096 tokens") and fix in entry[2]
    assert code == 1
    with running_lmstudio(tmp_path, "--context-length", "65536") as server:
        code, entry = status(tmp_path, server, backend="lmstudio")
    assert "serves devstral" in entry[1] and entry[2] == "context 65536 tokens (loaded)"
    assert code == 0
