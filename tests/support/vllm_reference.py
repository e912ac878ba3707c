"""The reference backend (tests/vllm_reference): vLLM 0.33.0's own API server from the role's
lock, on a free loopback port, with the vllm_server role's own rendered command line."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support import role_templates
from tests.support.paths import REPO

VENV = Path(os.environ.get("CCPROV_VLLM_REFERENCE_VENV", REPO / ".cache/vllm-reference/venv"))
PYTHON = VENV / "bin/python"
# mistral-common 1.13.1 unpacked (install.sh): put first on the path, it replaces the lock's.
OLD_MISTRAL_COMMON = VENV.parent / "mistral-common-1.13.1"
START_TIMEOUT = 240  # torch and vLLM import in ~30 s here; a slow CI machine takes longer
INSTALL_HINT = "run tests/vllm_reference/install.sh (tests/stages/vllm-reference.sh does)"


def available() -> bool:
    return PYTHON.is_file()


def role_command_line(workdir: Path, port: int) -> list[str]:
    """`serve MODEL FLAGS...` exactly as the vllm_server role renders it (its defaults), on
    loopback at PORT."""
    values = role_templates.role_vars(
        workdir,
        "vllm_server",
        ["__vllm_server_args"],
        {"vllm_server_host": "127.0.0.1", "vllm_server_port": port},
    )
    args: list[str] = values["__vllm_server_args"]
    return args


def start_reference(
    workdir: Path,
    port: int,
    api_key: str,
    *,
    mistral_common_first: Path | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start it (the key as the role gives it: VLLM_API_KEY in the unit's environment) and
    wait for /health. MISTRAL_COMMON_FIRST: a directory put before the venv's packages."""
    if not available():
        raise RuntimeError(f"no vLLM reference venv at {VENV}: {INSTALL_HINT}")
    workdir.mkdir(parents=True, exist_ok=True)
    path = [str(REPO)]
    if mistral_common_first is not None:
        path.insert(0, str(mistral_common_first))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VLLM_", "PYTHON"))},
        "PYTHONPATH": os.pathsep.join(path),
        "VLLM_API_KEY": api_key,
        # As the role's unit sets it (the drain before a restart, issue #29).
        "CCPROV_VLLM_DRAIN_FILE": str(workdir / "draining"),
        "HOME": str(workdir),
        "XDG_CACHE_HOME": str(workdir / "cache"),
        "HF_HOME": str(workdir / "hf"),
        "VLLM_CACHE_ROOT": str(workdir / "vllm-cache"),
    }
    log = log or workdir / "reference.log"
    command = [
        str(PYTHON),
        "-m",
        "tests.vllm_reference.server",
        str(workdir / "model"),
        "--",
        *role_command_line(workdir / "render", port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the vLLM reference exited at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"the vLLM reference did not start:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
