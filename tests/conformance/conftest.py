"""The real pinned LiteLLM gateway (the role's rendered config) in front of the vLLM
stand-in, once per backend route, plus the stand-in's log of what reached it."""

from __future__ import annotations

import contextlib
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


@pytest.fixture(scope="session")
def route_gateways(observed_standin, tmp_path_factory) -> Iterator[dict[str, Gateway]]:
    """The gateway on each route, both kept for the session: a session fixture parametrized
    by route was stopped and started again when the next module began on the other route
    (three LiteLLM starts for two, about 25 s)."""
    backend = observed_standin.backend
    with contextlib.ExitStack() as stack:
        yield {
            route: stack.enter_context(
                gateway_on_route(
                    tmp_path_factory.mktemp(f"gateway-{route}"), backend.url, backend.api_key, route
                )
            )
            for route in ROUTES
        }


@pytest.fixture(params=ROUTES)
def route_gateway(request, route_gateways) -> tuple[str, Gateway]:
    return request.param, route_gateways[request.param]


@pytest.fixture(scope="session")
def baseline(observed_standin) -> dict[str, conformance.Result]:
    """The same checks straight against the backend: what it cannot do, no gateway can."""
    target = conformance.Target(
        observed_standin.backend.url, observed_standin.backend.api_key, "devstral"
    )
    return {r.name: r for r in conformance.run(target, fixtures=FIXTURES)}
