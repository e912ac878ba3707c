"""The Ollama and LM Studio stand-ins (tests/standins/ollama, tests/standins/lmstudio) on a
free loopback port."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import REPO
from tests.support.standin import free_port

OLLAMA_STANDIN = REPO / "tests/standins/ollama/ollama_standin.py"
LMSTUDIO_STANDIN = REPO / "tests/standins/lmstudio/lmstudio_standin.py"


@dataclass
class LocalServer:
    url: str
    log: Path

    def requests(self, path: str = "/v1/messages") -> list[dict[str, Any]]:
        """The stand-in's request log: one entry per request to PATH (query ignored)."""
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in entries if e["path"].split("?", 1)[0] == path]


@contextmanager
def running_ollama(workdir: Path, *flags: str) -> Iterator[LocalServer]:
    """Start the Ollama stand-in with FLAGS (--num-ctx, --vram-gib, ...); stop it afterwards."""
    with _running(OLLAMA_STANDIN, "/api/version", workdir, *flags) as server:
        yield server


@contextmanager
def running_lmstudio(workdir: Path, *flags: str) -> Iterator[LocalServer]:
    """Start the LM Studio stand-in with FLAGS (--context-length, ...); stop it afterwards."""
    with _running(LMSTUDIO_STANDIN, "/v1/models", workdir, *flags) as server:
        yield server


@contextmanager
def _running(script: Path, ready: str, workdir: Path, *flags: str) -> Iterator[LocalServer]:
    port = free_port()
    log = workdir / f"{script.stem}-{port}.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", str(port), "--request-log", str(log), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}{ready}", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{script.name} did not start") from None
                time.sleep(0.05)
        log.unlink(missing_ok=True)
        yield LocalServer(url, log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
