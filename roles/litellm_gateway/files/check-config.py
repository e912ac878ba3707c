#!/usr/bin/env python3
"""Check a LiteLLM proxy config before it replaces the live one (used as `validate:`).

LiteLLM has no offline config-check command, so this checks what the proxy needs to start:
YAML that parses, a model_list whose entries have model_name and litellm_params.model, and
no plain-text keys (secrets must be os.environ/ references to the private env file).
"""

from __future__ import annotations

import sys
from typing import Any

import yaml


def problems(config: Any) -> list[str]:
    found: list[str] = []
    if not isinstance(config, dict):
        return ["the config is not a mapping"]
    models = config.get("model_list")
    if not isinstance(models, list) or not models:
        found.append("model_list is empty")
        models = []
    for index, entry in enumerate(models):
        params = (entry or {}).get("litellm_params") or {}
        if not entry.get("model_name"):
            found.append(f"model_list[{index}] has no model_name")
        if not params.get("model"):
            found.append(f"model_list[{index}] has no litellm_params.model")
        key = params.get("api_key")
        if key and not str(key).startswith("os.environ/") and key != "none":
            found.append(f"model_list[{index}] holds a plain api_key; use os.environ/NAME")
    master = (config.get("general_settings") or {}).get("master_key")
    if master and not str(master).startswith("os.environ/"):
        found.append("general_settings.master_key is plain text; use os.environ/LITELLM_MASTER_KEY")
    return found


def main(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        print(f"{path}: not valid YAML: {exc}", file=sys.stderr)
        return 1
    found = problems(config)
    for problem in found:
        print(f"{path}: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
