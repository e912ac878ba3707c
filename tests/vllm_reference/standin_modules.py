"""Load one of the vLLM stand-in's stdlib-only modules by path. Inside the reference venv
the name `vllm` is the real package, so `tests/standins/vllm/src/vllm/X.py` cannot be
imported as `vllm.X` there; the reference shares the stand-in's canned answers (model.py)
and its tekken file (tekken.py) this way, so the two cannot drift apart."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

STANDIN_SRC = Path(__file__).resolve().parents[1] / "standins/vllm/src/vllm"


def load(name: str) -> ModuleType:
    """tests/standins/vllm/src/vllm/NAME.py as module `ccprov_standin_NAME`."""
    module_name = f"ccprov_standin_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, STANDIN_SRC / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
