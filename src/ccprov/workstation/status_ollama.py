"""`ccprov status` for the `ollama` backend: which context window Ollama gives the model.

Ollama never refuses a prompt longer than its window: it drops messages from the front and
then cuts tokens from the front (server/prompt.go:23-92, llm/llama_server.go:279-319 in
github.com/ollama/ollama fb30760), so Claude Code's ~20k-token prompt on a 4096-token window
loses its system prompt, tools or the user's own words without any error. The window is
num_ctx: a Modelfile's `PARAMETER num_ctx`, else the server's OLLAMA_CONTEXT_LENGTH, else
4096 / 32768 / 262144 by VRAM (server/routes.go:125-133, 2048-2057); Claude Code's
Anthropic requests never set it (anthropic/anthropic.go:335-353 sets only num_predict and
sampling). What a client can read: GET /api/ps (a loaded model's context_length, the size
the scheduler gave it: routes.go:2271-2303) and POST /api/show (the Modelfile's
parameters, the GGUF's <arch>.context_length: routes.go:1396-1598).
"""

from __future__ import annotations

import json
import re
import urllib.error
from dataclasses import dataclass
from typing import Any

from ccprov.workstation import probe

# Ollama's docs (docs/context-length.mdx:14): "coding tools should be set to at least 64000".
MINIMUM = 64000
FIX = (
    f"Fix: run the server with OLLAMA_CONTEXT_LENGTH={MINIMUM} (ollama serve), or put"
    f" PARAMETER num_ctx {MINIMUM} in the model's Modelfile (ollama create)"
)
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.M)


def _base(name: str) -> str:
    """cmd/launch/context_window.go:62-68: a name with its :latest tag dropped."""
    name = name.strip()
    return name[: -len(":latest")] if name.lower().endswith(":latest") else name


def same_model(a: str, b: str) -> bool:
    """Whether two names are one Ollama model (`devstral` is `devstral:latest`: Ollama
    lists the full name in /v1/models and /api/ps)."""
    return _base(a).lower() == _base(b).lower()


def serves(model: str, served: list[str]) -> bool:
    return any(same_model(model, name) for name in served)


@dataclass(frozen=True)
class Context:
    tokens: int | None
    """The window the model runs with, when a client can know it."""
    source: str
    trained: int | None = None
    """The model's own maximum (GGUF <arch>.context_length): num_ctx cannot go above it."""


def _call(base_url: str, path: str, body: dict[str, Any] | None) -> Any:
    status, payload, _latency, _location = probe._request(
        f"{base_url}{path}", "ollama", body, timeout=5.0
    )
    return json.loads(payload) if status == 200 else None


def read_context(base_url: str, model: str) -> Context:
    """The model's window: the loaded size (/api/ps) if it runs, else its Modelfile's
    num_ctx (/api/show), capped by its trained context; tokens None when neither says."""
    trained = None
    num_ctx = None
    try:
        shown = _call(base_url, "/api/show", {"model": model}) or {}
        info = shown.get("model_info") or {}
        arch = info.get("general.architecture")
        if isinstance(info.get(f"{arch}.context_length"), int):
            trained = int(info[f"{arch}.context_length"])
        match = _NUM_CTX.search(str(shown.get("parameters") or ""))
        num_ctx = int(match.group(1)) if match else None
        running = _call(base_url, "/api/ps", None) or {}
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return Context(None, "")
    for entry in running.get("models") or []:
        name = str(entry.get("name") or entry.get("model") or "")
        if same_model(model, name) and int(entry.get("context_length") or 0) > 0:
            return Context(int(entry["context_length"]), "loaded now, ollama ps", trained)
    if num_ctx:
        capped = min(num_ctx, trained) if trained else num_ctx
        return Context(capped, "the Modelfile's num_ctx", trained)
    return Context(None, "", trained)


def context_line(base_url: str, model: str) -> tuple[bool, str]:
    """(too small for sure, one line for the status table)."""
    context = read_context(base_url, model)
    if context.trained and context.trained < MINIMUM:
        return True, (
            f"WARNING: {model} holds at most {context.trained} tokens; Ollama cuts Claude"
            f" Code's ~20k-token prompt from the front without an error: use a model with"
            f" a context of {MINIMUM} or more"
        )
    if context.tokens is None:
        return False, (
            "WARNING: context not known (model not loaded, no num_ctx in its Modelfile):"
            " unless the server sets OLLAMA_CONTEXT_LENGTH, Ollama uses 4096 tokens below"
            " 24 GiB of VRAM and cuts Claude Code's ~20k-token prompt from the front"
            f" without an error. {FIX}"
        )
    if context.tokens < MINIMUM:
        return True, (
            f"WARNING: context {context.tokens} tokens ({context.source}): Ollama cuts"
            f" Claude Code's ~20k-token prompt from the front without an error. {FIX}"
        )
    return False, f"context {context.tokens} tokens ({context.source})"
