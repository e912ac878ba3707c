"""The LiteLLM supply-chain guard, from the ccprov.stack collection that ships inside ccprov.

One copy of the code: plugins/module_utils/litellm_guard.py. The Ansible module
(ccprov.stack.litellm_guard, run by the pinned_venv role) uses it on hosts; `ccprov audit`
sends its source to hosts over SSH; the CLI imports it here.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

from ccprov import paths


def path() -> Path:
    return paths.data_dir() / "plugins/module_utils/litellm_guard.py"


def source() -> str:
    return path().read_text(encoding="utf-8")


@cache
def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ccprov_litellm_guard", path())
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path()}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
