"""End-to-end helpers: an ordinary developer account and the real `claude` CLI."""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The gateway's starters live in tests/support/gateway.py (plain functions, shared with
# bench/); they are named here too for the tests that import them from this module.
from tests.support.gateway import Gateway as Gateway
from tests.support.gateway import ensure_litellm_venv
from tests.support.gateway import launch_gateway as launch_gateway
from tests.support.gateway import render_gateway_config as render_gateway_config
from tests.support.gateway import start_gateway as start_gateway
from tests.support.gateway import unit_environment as unit_environment
from tests.support.paths import CLAUDE

DEV_USER = "ccprov-dev"


@dataclass
class Developer:
    name: str
    home: Path

    def run(self, command: str, env: dict[str, str] | None = None, timeout: float = 180):
        """Run a bash command as the developer, in an interactive shell like a terminal."""
        base = {
            "HOME": str(self.home),
            "USER": self.name,
            "PATH": f"{CLAUDE.parent}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            # Offline: no telemetry, no update checks; fail fast instead of retrying.
            "DISABLE_TELEMETRY": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": "0",
            **(env or {}),
        }
        prefix = [] if os.geteuid() != 0 else ["runuser", "-u", self.name, "--"]
        return subprocess.run(
            [*prefix, "env", "-i", *[f"{k}={v}" for k, v in base.items()], "bash", "-ic", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
            check=False,
        )


@pytest.fixture
def developer() -> Iterator[Developer]:
    """A fresh home for an ordinary (non-root) account: Claude Code refuses
    --dangerously-skip-permissions as root, and real developers are not root."""
    yield from fresh_developer()


@pytest.fixture(scope="module")
def developer_module() -> Iterator[Developer]:
    """The same, shared by a module's tests (for set-ups that take a while)."""
    yield from fresh_developer()


def fresh_developer() -> Iterator[Developer]:
    if not CLAUDE.exists():
        pytest.fail("Claude Code is not installed: run tests/stages/00-setup.sh")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(DEV_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--create-home", "--shell", "/bin/bash", DEV_USER], check=True
            )
        name = DEV_USER
    else:
        name = pwd.getpwuid(os.geteuid()).pw_name
    # One account, one home: a test in the other pytest process of stage 20 waits for it.
    # (SIM115: the lock is held for the whole fixture and closed when the home is given back.)
    account_lock = open("/tmp/ccprov-developer-account.lock", "w")  # noqa: SIM115
    fcntl.flock(account_lock, fcntl.LOCK_EX)
    if os.geteuid() == 0:
        # A fresh home every time, at the account's real place.
        home = Path(pwd.getpwnam(name).pw_dir)
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(mode=0o750)
        shutil.chown(home, name, name)
    else:
        home = Path(tempfile.mkdtemp(prefix="ccprov-e2e-home-"))
    try:
        yield Developer(name, home)
    finally:
        if os.geteuid() != 0:
            shutil.rmtree(home, ignore_errors=True)
        account_lock.close()


# --- A real LiteLLM gateway on 127.0.0.1, installed from the role's own lock --------------


@pytest.fixture(scope="session")
def litellm_venv() -> Path:
    return ensure_litellm_venv()


@pytest.fixture(scope="session")
def gateway(litellm_venv, standin_vllm, tmp_path_factory) -> Iterator[Gateway]:
    proc, gw = start_gateway(
        tmp_path_factory.mktemp("gateway"), standin_vllm.url, standin_vllm.api_key
    )
    try:
        yield gw
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# --- OpenCode and Mistral Vibe, installed once by `ccprov workstation --agent` ------------


@pytest.fixture(scope="session")
def agents_home(standin_vllm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A developer home onboarded with both local agents against the vLLM stand-in, as a
    developer would (`ccprov workstation --agent opencode --agent mistral-vibe`): the real
    npm and PyPI installs, done once for every test that runs an agent."""
    from tests.conftest import find_python312

    python = find_python312()
    if not python:
        pytest.fail("no Python >= 3.12 here: install python3.12 (pyenv) for this test")
    base = tmp_path_factory.mktemp("agents")
    home = base / "home"
    home.mkdir()
    (home / "project").mkdir()
    key = base / "gateway.key"
    key.write_text(standin_vllm.api_key + "\n")
    key.chmod(0o600)
    command = [
        str(Path(sys.executable).parent / "ccprov"), "workstation",
        "--base-url", standin_vllm.url, "--token-file", str(key), "--yes", "--no-verify",
        "--agent", "opencode", "--agent", "mistral-vibe", "--vibe-python", python,
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return home
