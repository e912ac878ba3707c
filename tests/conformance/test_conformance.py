"""The conformance checks (src/ccprov/conformance.py) against the real pinned LiteLLM
gateway, once per backend route, in front of the vLLM stand-in.

A check that fails through the gateway fails the test, unless the backend fails it too
when asked directly (a stand-in limitation, reported as xfail with the backend's reason);
the key checks are the gateway's own job and never excused.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccprov import conformance
from tests.conformance.conftest import FIXTURES
from tests.e2e.conftest import unit_environment

pytestmark = pytest.mark.slow

# vLLM takes its key as Bearer only; the gateway must take the developer's key either way.
GATEWAY_ONLY = {"key-as-x-api-key", "wrong-key-401"}

_results: dict[str, dict[str, conformance.Result]] = {}


def results_for(route: str, gateway) -> dict[str, conformance.Result]:
    if route not in _results:
        target = conformance.Target(gateway.url, gateway.master_key, "devstral")
        results = list(conformance.run(target, fixtures=FIXTURES))
        print(f"\nroute {route}:\n" + "\n".join(r.line() for r in results))
        _results[route] = {r.name: r for r in results}
    return _results[route]


@pytest.mark.parametrize("name", conformance.names())
def test_check(route_gateway, baseline, name: str) -> None:
    route, gateway = route_gateway
    result = results_for(route, gateway)[name]
    if result.ok:
        return
    direct = baseline[name]
    if name not in GATEWAY_ONLY and not direct.ok:
        pytest.xfail(f"the backend fails it directly too: {direct.reason}")
    pytest.fail(f"[{route}] {result.line()}\n{gateway.log.read_text()[-1500:]}")


def _reached(observed, send) -> list[dict[str, Any]]:
    start = len(observed.requests())
    send()
    seen = observed.requests()[start:]
    if not observed.dump.exists():
        pytest.skip("the stand-in no longer logs request bodies (VLLM_STANDIN_DUMP)")
    return seen


def test_route_and_dropped_params_reach_the_backend_as_configured(
    route_gateway, observed_standin
) -> None:
    """What vLLM receives for Claude Code's own request: the route's endpoint, and none of
    the parameters the role drops (per deployment; LiteLLM ignores the global list)."""
    route, gateway = route_gateway
    fixture = json.loads((FIXTURES / "claude_code_request.json").read_text())
    body = fixture["body"]
    body["thinking"] = {"type": "enabled", "budget_tokens": 31999}
    ctx = conformance.Context(
        conformance.Target(gateway.url, gateway.master_key, "devstral"), FIXTURES
    )
    seen = _reached(
        observed_standin, lambda: ctx.post(fixture["path"], body, headers=fixture["headers"])
    )
    assert len(seen) == 1, [s["path"] for s in seen]
    sent = seen[0]["body"]
    if route == "messages":
        assert seen[0]["path"] == "/v1/messages"
        assert "thinking" not in sent and "context_management" not in sent
        assert "effort" not in (sent.get("output_config") or {})
        assert len(sent["tools"]) == len(body["tools"]) and sent["system"][0]["type"] == "text"
    else:
        assert seen[0]["path"] == "/v1/chat/completions"
        for name in ("reasoning_effort", "prompt_cache_key", "thinking", "context_management"):
            assert name not in sent and name not in (sent.get("extra_body") or {}), name


def test_gateway_unit_reads_beta_headers_locally() -> None:
    assert unit_environment()["LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"] == "True"
