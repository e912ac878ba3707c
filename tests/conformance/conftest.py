"""The real pinned LiteLLM gateway (the role's rendered config) in front of the vLLM
stand-in, once per backend route, plus the stand-in's log of what reached it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ccprov.probes import conformance
from tests.support.gateway import Gateway
from tests.support.gateway import route_gateway as gateway_on_route
from tests.support.standin import Backend, free_port, start_standin

ROUTES = ("messages", "chat_completions")
FIXTURES = conformance.FIXTURES


@dataclass
class Observed:
    """The stand-in and the file it appends every request body to (if it still does)."""

    backend: Backend
    dump: Path

    def requests(self) -> list[dict[str, object]]:
        import json

        if not self.dump.exists():
            return []
        return [json.loads(line) for line in self.dump.read_text().splitlines() if line]


@pytest.fixture(scope="session")
def observed_standin(tmp_path_factory) -> Iterator[Observed]:
    dump = tmp_path_factory.mktemp("standin") / "requests.jsonl"
    port = free_port()
    proc = start_standin(port, "sk-conformance-vllm-key", dump=dump)
    try:
        yield Observed(Backend(f"http://127.0.0.1:{port}", "sk-conformance-vllm-key"), dump)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session", params=ROUTES)
def route_gateway(request, observed_standin, tmp_path_factory) -> Iterator[tuple[str, Gateway]]:
    route = request.param
    backend = observed_standin.backend
    tmp = tmp_path_factory.mktemp(f"gateway-{route}")
    with gateway_on_route(tmp, backend.url, backend.api_key, route) as gateway:
        yield route, gateway


@pytest.fixture(scope="session")
def baseline(observed_standin) -> dict[str, conformance.Result]:
    """The same checks straight against the backend: what it cannot do, no gateway can."""
    target = conformance.Target(
        observed_standin.backend.url, observed_standin.backend.api_key, "devstral"
    )
    return {r.name: r for r in conformance.run(target, fixtures=FIXTURES)}
