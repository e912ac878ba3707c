"""The conformance suite (src/ccprov/probes/conformance.py) against vLLM 0.33.0's own serving code
from the role's lock: directly, and through the real pinned LiteLLM on both routes. This is
what the stand-in's conformance run (tests/conformance) claims; here vLLM itself answers."""

from __future__ import annotations

import pytest

from ccprov.probes import conformance
from tests.conformance.test_conformance import DIRECT_FAILS, GATEWAY_ONLY, ROUTE_LIMITS

_results: dict[str, dict[str, conformance.Result]] = {}


def results(name: str, url: str, key: str) -> dict[str, conformance.Result]:
    if name not in _results:
        target = conformance.Target(url, key, "devstral", timeout=120)
        found = list(conformance.run(target, fixtures=conformance.FIXTURES))
        print(f"\n{name}:\n" + "\n".join(r.line() for r in found))
        _results[name] = {r.name: r for r in found}
    return _results[name]


@pytest.mark.parametrize("name", sorted(set(conformance.names()) - GATEWAY_ONLY))
def test_direct(reference, name: str) -> None:
    result = results("direct", reference.url, reference.api_key)[name]
    assert result.ok, f"[vLLM reference, direct] {result.line()}"


@pytest.mark.parametrize("name", DIRECT_FAILS)
def test_direct_vllm_refuses_what_the_gateway_fixes(reference, name: str) -> None:
    """vLLM's Anthropic endpoint takes the key as Bearer only (vllm issue 51572), refuses
    a thinking budget when served without a reasoning parser, as Devstral is, refuses an
    image for a text-only model and leaves a null stop_sequence out of a non-streamed reply
    (vllm#56371): the gateway's key hook, drop list and callbacks are what make them work
    (test_through_the_gateway)."""
    result = results("direct", reference.url, reference.api_key)[name]
    assert not result.ok


@pytest.mark.parametrize("name", conformance.names())
def test_through_the_gateway(reference_gateway, name: str) -> None:
    route, gateway = reference_gateway
    result = results(f"gateway {route}", gateway.url, gateway.master_key)[name]
    if (route, name) in ROUTE_LIMITS:
        assert not result.ok, f"[{route}] {name} passes now: take it off ROUTE_LIMITS"
        pytest.xfail(ROUTE_LIMITS[route, name])
    assert result.ok, (
        f"[gateway {route} -> vLLM reference] {result.line()}\n" + (gateway.log.read_text()[-1500:])
    )
