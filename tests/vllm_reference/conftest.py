"""The reference backend (vLLM's own serving code, server.py) once per session, and the
real pinned LiteLLM gateway in front of it, once per backend route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import vllm_reference
from tests.support.gateway import Gateway, route_gateway
from tests.support.standin import Backend, free_port

REFERENCE_KEY = "sk-reference-vllm-key"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/vllm_reference/" in str(item.path):
            item.add_marker(pytest.mark.reference)


@pytest.fixture(scope="session")
def reference_workdir(tmp_path_factory) -> Path:
    """The reference's directory: its model, render and log (reference.log)."""
    return Path(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="session")
def reference(reference_workdir) -> Iterator[Backend]:
    if not vllm_reference.available():
        pytest.fail(f"no vLLM reference venv: {vllm_reference.INSTALL_HINT}")
    port = free_port()
    proc = vllm_reference.start_reference(reference_workdir, port, REFERENCE_KEY)
    try:
        yield Backend(f"http://127.0.0.1:{port}", REFERENCE_KEY)
    finally:
        vllm_reference.stop(proc)


@pytest.fixture(scope="session", params=("messages", "chat_completions"))
def reference_gateway(request, reference, tmp_path_factory) -> Iterator[tuple[str, Gateway]]:
    route = request.param
    tmp = tmp_path_factory.mktemp(f"reference-gateway-{route}")
    with route_gateway(tmp, reference.url, reference.api_key, route) as gateway:
        yield route, gateway
