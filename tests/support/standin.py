"""The vLLM stand-in (tests/standins/vllm) on a free loopback port."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import STANDIN_SRC


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
    port: int,
    api_key: str,
    *extra: str,
    dump: Path | None = None,
    token_delay: float | None = None,
) -> subprocess.Popen[bytes]:
    """Start the vLLM stand-in with the seed's flags; wait until /health answers. With
    `dump`, it appends every request it gets (path, body, Authorization) there as JSON lines;
    with `token_delay`, it streams one event per that many seconds (a GPU's pace)."""
    env = {**os.environ, "PYTHONPATH": str(STANDIN_SRC)}
    if token_delay is not None:
        env["VLLM_STANDIN_TOKEN_DELAY"] = str(token_delay)
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
