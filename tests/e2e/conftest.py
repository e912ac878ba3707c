"""End-to-end helpers: an ordinary developer account and the real `claude` CLI."""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import signal
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
from tests.support.gateway import add_model, ensure_litellm_venv
from tests.support.gateway import launch_gateway as launch_gateway
from tests.support.gateway import render_gateway_config as render_gateway_config
from tests.support.gateway import start_gateway as start_gateway
from tests.support.gateway import unit_environment as unit_environment
from tests.support.paths import CLAUDE
from tests.support.standin import free_port, start_standin

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


# The gateway's second model: the same deployment in front of a stand-in whose context is
# small enough to fill in a test (tests/e2e/test_long_sessions.py).
SMALL_CONTEXT = 100_000
SMALL_CONTEXT_MODEL = "devstral-100k"
# LiteLLM's default mode loads the first .env it finds walking up from its own package; the
# role's gateway must run with only the settings the role gives it. A database URL there
# would switch LiteLLM to Postgres mode and stop it at start.
STRAY_DOTENV = "DATABASE_URL=postgresql://nobody:x@127.0.0.1:1/none\n"
# The .env each session gateway started beside (by its URL), for test_gateway_env.
DOTENV_AT_START: dict[str, str] = {}


@pytest.fixture(scope="session")
def gateway(litellm_venv, standin_vllm, tmp_path_factory) -> Iterator[Gateway]:
    """The role's gateway in front of the vLLM stand-in (`devstral`), also serving
    SMALL_CONTEXT_MODEL: one LiteLLM start (about 20 s) for both. It starts with a stray
    .env above its install (STRAY_DOTENV; test_gateway_env checks it serves all the same)."""
    port = free_port()
    small = start_standin(port, standin_vllm.api_key, "--max-model-len", str(SMALL_CONTEXT))
    try:
        tmp = tmp_path_factory.mktemp("gateway")
        config = render_gateway_config(tmp, standin_vllm.url)
        add_model(config, SMALL_CONTEXT_MODEL, f"http://127.0.0.1:{port}")
        dotenv = litellm_venv / ".env"
        dotenv.write_text(STRAY_DOTENV)
        try:
            proc, gw = launch_gateway(tmp, config, {"LITELLM_BACKEND_KEY_1": standin_vllm.api_key})
            DOTENV_AT_START[gw.url] = dotenv.read_text()
        finally:
            dotenv.unlink()
        try:
            yield gw
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    finally:
        small.terminate()
        small.wait(timeout=10)


# --- OpenCode and Mistral Vibe, installed once by `ccprov workstation --agent` ------------


@dataclass
class AgentsInstall:
    home: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="session")
def agents_install(standin_vllm, tmp_path_factory) -> Iterator[AgentsInstall]:
    """A developer home being onboarded with both local agents against the vLLM stand-in, as
    a developer would (`ccprov workstation --agent opencode --agent mistral-vibe`): the real
    npm and PyPI installs, started and left running (agents_home waits for it)."""
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
    log = base / "workstation.log"
    with log.open("wb") as out:
        # Its own process group: stopped early (a failed run), Ansible and pip stop with it.
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    install = AgentsInstall(home, proc, log)
    try:
        yield install
    finally:
        install.stop()


@pytest.fixture(scope="session", autouse=True)
def agents_install_early(request: pytest.FixtureRequest) -> None:
    """The install above takes about two minutes (downloads, Ansible, pip): when a selected
    test needs it, it starts with the first end-to-end test and the tests before it run
    meanwhile, instead of waiting for it at the first agent test."""
    if any("agents_home" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("agents_install")


@pytest.fixture(scope="session")
def agents_home(agents_install: AgentsInstall) -> Path:
    """The home of agents_install, once it has succeeded: done once for every test that runs
    an agent."""
    try:
        code = agents_install.proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        agents_install.stop()
        code = agents_install.proc.returncode
    assert code == 0, agents_install.log.read_text(errors="replace")
    return agents_install.home
