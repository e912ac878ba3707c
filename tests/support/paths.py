"""Where the repository's parts are on this machine, and a Python for Mistral Vibe."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STANDIN_SRC = REPO / "tests/standins/vllm/src"
CLAUDE = REPO / ".cache/node/node_modules/.bin/claude"


def find_python312() -> str | None:
    """A Python >= 3.12 for Mistral Vibe: pyenv's here (its shims fail without a global
    version), else python3.12 on PATH."""
    versions = sorted(glob.glob("/root/.pyenv/versions/3.1[2-9]*/bin/python3.1[2-9]"))
    return next(iter(versions), None) or shutil.which("python3.12")
