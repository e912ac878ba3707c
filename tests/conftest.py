"""Shared pytest set-up: paths of the repository and its parts, and the vLLM stand-in."""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
STANDIN_SRC = REPO / "tests/standins/vllm/src"
CLAUDE = REPO / ".cache/node/node_modules/.bin/claude"


def load_file(name: str, path: Path) -> ModuleType:
    """Import a Python file that is not part of a package (role modules, filters)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def find_python312() -> str | None:
    """A Python >= 3.12 for Mistral Vibe: pyenv's here (its shims fail without a global
    version), else python3.12 on PATH."""
    versions = sorted(glob.glob("/root/.pyenv/versions/3.1[2-9]*/bin/python3.1[2-9]"))
    return next(iter(versions), None) or shutil.which("python3.12")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Backend:
    url: str
    api_key: str
    model: str = "devstral"


def start_standin(
    port: int, api_key: str, *extra: str, dump: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start the vLLM stand-in with the seed's flags; wait until /health answers. With
    `dump`, it appends every request it gets (path, body, Authorization) there as JSON lines."""
    env = {**os.environ, "PYTHONPATH": str(STANDIN_SRC)}
    if dump is not None:
        env["VLLM_STANDIN_DUMP"] = str(dump)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm",
            "serve",
            "mistralai/Devstral-2-123B-Instruct-2512",
            "--served-model-name",
            "devstral",
            "--tool-call-parser",
            "mistral",
            "--enable-auto-tool-choice",
            "--tensor-parallel-size",
            "2",
            "--quantization",
            "fp8",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--api-key",
            api_key,
            "--disable-log-requests",
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Serving HTTPS (--ssl-certfile): wait for it over TLS; whether its certificate is
    # trusted is the caller's test, not this wait's.
    tls = "--ssl-certfile" in extra
    context = ssl._create_unverified_context() if tls else None  # noqa: S323
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/health"
            with urllib.request.urlopen(url, timeout=1, context=context):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the vLLM stand-in did not start")


@pytest.fixture(scope="session")
def standin_vllm() -> Iterator[Backend]:
    """The vLLM stand-in on 127.0.0.1, speaking /v1/messages and /v1/chat/completions."""
    port = free_port()
    proc = start_standin(port, "sk-standin-vllm-key")
    try:
        yield Backend(f"http://127.0.0.1:{port}", "sk-standin-vllm-key")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hostbed: needs the container test bed (tests/hostbed)")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
