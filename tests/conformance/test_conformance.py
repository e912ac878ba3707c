"""The conformance checks (src/ccprov/probes/conformance.py) against the real pinned LiteLLM
gateway, once per backend route, in front of the vLLM stand-in; and the same checks
straight against the stand-in, which must pass them too (it copies vLLM 0.33, so what it
fails is a stand-in defect, never an excuse for the gateway).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccprov.probes import conformance
from tests.conformance.conftest import FIXTURES
from tests.e2e.conftest import unit_environment

pytestmark = pytest.mark.slow

# What the gateway adds over vLLM itself: the developer's key either way (vLLM takes Bearer
# only), its own 401s, dropping a thinking budget (vLLM refuses one when served without
# a reasoning parser, as Devstral is), images in a tool result as text notes (Devstral is
# text-only: ccprov_text_only.py) and a non-streamed reply's stop_sequence (vLLM 0.33 leaves
# it out when null: ccprov_anthropic_fields.py).
GATEWAY_ONLY = {
    "key-as-x-api-key",
    "wrong-key-401",
    "claude-code-thinking-budget",
    "tool-result-image",
    "non-stream-fields",
}
# What vLLM refuses or leaves out itself, and the gateway fixes (see GATEWAY_ONLY).
DIRECT_FAILS = sorted(GATEWAY_ONLY - {"wrong-key-401"})
# Checks a route cannot pass whatever the gateway's settings: (route, check) -> why. None
# now: stop-sequences passes on chat_completions since the gateway applies the sequences
# itself there (roles/litellm_gateway/files/ccprov_stop_sequences.py, issue #30).
ROUTE_LIMITS: dict[tuple[str, str], str] = {}

_results: dict[str, dict[str, conformance.Result]] = {}


def results_for(route: str, gateway) -> dict[str, conformance.Result]:
    if route not in _results:
        target = conformance.Target(gateway.url, gateway.master_key, "devstral")
        results = list(conformance.run(target, fixtures=FIXTURES))
        print(f"\nroute {route}:\n" + "\n".join(r.line() for r in results))
        _results[route] = {r.name: r for r in results}
    return _results[route]


@pytest.mark.parametrize("name", conformance.names())
def test_check(route_gateway, name: str) -> None:
    route, gateway = route_gateway
    result = results_for(route, gateway)[name]
    if (route, name) in ROUTE_LIMITS:
        assert not result.ok, f"[{route}] {name} passes now: take it off ROUTE_LIMITS"
        pytest.xfail(ROUTE_LIMITS[route, name])
    assert result.ok, f"[{route}] {result.line()}\n{gateway.log.read_text()[-1500:]}"


@pytest.mark.parametrize("name", sorted(set(conformance.names()) - GATEWAY_ONLY))
def test_check_direct_against_the_standin(baseline, name: str) -> None:
    result = baseline[name]
    assert result.ok, f"[stand-in, direct] {result.line()}"


@pytest.mark.parametrize("name", DIRECT_FAILS)
def test_direct_the_standin_refuses_what_the_gateway_fixes(baseline, name: str) -> None:
    """Like vLLM 0.33: its Anthropic endpoint takes the key as Bearer only (vllm issue
    51572), a thinking budget without a reasoning parser is an error, an image is refused
    by a text-only model, and a non-streamed reply has no stop_sequence when it is null
    (vllm#56371). Through the gateway all pass (test_check): the role's drop list, key
    hook and callbacks are what fix them."""
    assert not baseline[name].ok


def _reached(observed, send) -> list[dict[str, Any]]:
    start = len(observed.requests())
    send()
    assert observed.dump.exists(), "the stand-in logs request bodies to VLLM_STANDIN_DUMP"
    return observed.requests()[start:]


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
    # The backend sees the backend's key, never the caller's.
    assert seen[0]["authorization"] == f"Bearer {observed_standin.backend.api_key}"
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
