"""`ccprov status` for the `lmstudio` backend: the context LM Studio loaded the model with.

LM Studio refuses a prompt over the loaded context with a 400 ("The number of tokens to keep
from the initial prompt is greater than the context length", Gitlawb/openclaude#353), so a
too-small window fails loudly at the first turn; this line says why before that, and the
fix. Its own list, GET /api/v1/models (lmstudio-ai/docs 1_developer/2_rest/list.md), gives
each model's `max_context_length` and its `loaded_instances[].config.context_length`.
"""

from __future__ import annotations

import json
import urllib.error
from typing import Any

from ccprov.workstation import probe
from ccprov.workstation.status_ollama import MINIMUM

FIX = (
    f"Fix: load it with a context of {MINIMUM} or more (lms load MODEL --context-length"
    f" {MINIMUM}, or the model's Context Length in LM Studio's settings)"
)


def _models(base_url: str) -> list[dict[str, Any]] | None:
    try:
        status, payload, _latency, _location = probe._request(
            f"{base_url}/api/v1/models", "lmstudio", None, timeout=5.0
        )
        data = json.loads(payload) if status == 200 else {}
    except (urllib.error.URLError, OSError, ValueError):
        return None
    models = data.get("models") if isinstance(data, dict) else None
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else None


def context_line(base_url: str, model: str) -> tuple[bool, str] | None:
    """(too small for sure, one line for the status table); None when LM Studio's own list
    is not there (an older LM Studio, or another server on the port)."""
    models = _models(base_url)
    if models is None:
        return None
    for entry in models:
        instances = [i for i in entry.get("loaded_instances") or [] if isinstance(i, dict)]
        if model != entry.get("key") and model not in {i.get("id") for i in instances}:
            continue
        most = int(entry.get("max_context_length") or 0)
        if most and most < MINIMUM:
            return True, (
                f"WARNING: {model} holds at most {most} tokens, too few for Claude Code's"
                f" ~20k-token prompt and the session after it: use a model with a context"
                f" of {MINIMUM} or more"
            )
        loaded = [int((i.get("config") or {}).get("context_length") or 0) for i in instances]
        if not loaded:
            return False, (
                f"WARNING: {model} is not loaded: LM Studio loads it on first use with its"
                f" default context length, often 4096, and then refuses Claude Code's"
                f" ~20k-token prompt (400). {FIX}"
            )
        if max(loaded) < MINIMUM:
            return True, (
                f"WARNING: loaded with a context of {max(loaded)} tokens: LM Studio refuses"
                f" Claude Code's ~20k-token prompt (400) or runs out soon after. {FIX}"
            )
        return False, f"context {max(loaded)} tokens (loaded)"
    return None
