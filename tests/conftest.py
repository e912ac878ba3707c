"""Shared pytest set-up: paths of the repository and its parts, and the vLLM stand-in."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

# The stand-in starters and paths live in tests/support (plain functions, shared with
# bench/); they are named here too for the tests that import them from this module.
from tests.support.fleet import Redis, start_redis
from tests.support.paths import CLAUDE as CLAUDE
from tests.support.paths import REPO as REPO
from tests.support.paths import STANDIN_SRC as STANDIN_SRC
from tests.support.paths import find_python312 as find_python312
from tests.support.standin import Backend as Backend
from tests.support.standin import free_port as free_port
from tests.support.standin import start_standin as start_standin


def load_file(name: str, path: Path) -> ModuleType:
    """Import a Python file that is not part of a package (role modules, filters)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


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
    config.addinivalue_line(
        "markers", "reference: needs the vLLM reference venv (tests/vllm_reference/install.sh)"
    )


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    """A loopback redis-server of the module's own (tests/support/fleet.py, start_redis)."""
    server = start_redis(Path(tmp_path_factory.mktemp("redis")))
    if server is None:  # tests/stages/00-setup.sh installs it
        pytest.fail("redis-server is not installed: apt-get install redis-server")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
