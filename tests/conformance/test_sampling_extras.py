"""Sampling extras a developer's body could use to hold the GPUs (issue #28 finding 7): none
reaches the backend through the real gateway, on either route. Before, `n`, `ignore_eos`,
`min_tokens` and `logit_bias` all reached vLLM, so rpm and max_parallel did not bound the
tokens one key could make the GPUs produce."""

from __future__ import annotations

import pytest

from ccprov.probes import conformance
from tests.conformance.test_conformance import _reached

pytestmark = pytest.mark.slow

EXTRAS = {
    "n": 4,
    "best_of": 4,
    "use_beam_search": True,
    "ignore_eos": True,
    "min_tokens": 4000,
    "logit_bias": {"2": -100},
    "logprobs": True,
    "top_logprobs": 20,
    "prompt_logprobs": 20,
}


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_no_sampling_extra_reaches_the_backend(route_gateway, observed_standin, path) -> None:
    route, gateway = route_gateway
    ctx = conformance.Context(
        conformance.Target(gateway.url, gateway.master_key, "devstral"), conformance.FIXTURES
    )
    body = {
        "model": "devstral",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say OK"}],
        **EXTRAS,
    }
    replies: list[conformance.Reply] = []
    seen = _reached(observed_standin, lambda: replies.append(ctx.post(path, body)))
    assert replies[0].status == 200, replies[0].body[:300]
    assert len(seen) == 1
    sent = seen[0]["body"]
    leaked = sorted(k for k in EXTRAS if k in sent or k in (sent.get("extra_body") or {}))
    assert leaked == [], f"[{route}] {path}: reached vLLM: {leaked}"


def _output_limit(sent: dict) -> object:
    return sent.get("max_tokens", sent.get("max_completion_tokens"))


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_the_output_limit_is_capped_at_the_deployments_ceiling(
    route_gateway, observed_standin, path
) -> None:
    """litellm_gateway_max_tokens (32000, what Claude Code asks for): a larger ask, or a chat
    request with none (vLLM would then allow the rest of the context), reaches vLLM as the
    ceiling; a smaller one as it was (roles/litellm_gateway/files/ccprov_output_cap.py)."""
    route, gateway = route_gateway
    ctx = conformance.Context(
        conformance.Target(gateway.url, gateway.master_key, "devstral"), conformance.FIXTURES
    )
    asks: list[int | None] = [250000, 16] + ([None] if path == "/v1/chat/completions" else [])
    reached = []
    for ask in asks:
        body = {"model": "devstral", "messages": [{"role": "user", "content": "Say OK"}]}
        if ask is not None:
            body["max_tokens"] = ask
        replies: list[conformance.Reply] = []

        def send(body: dict = body, replies: list = replies) -> None:
            replies.append(ctx.post(path, body))

        seen = _reached(observed_standin, send)
        assert replies[0].status == 200, replies[0].body[:300]
        reached.append(_output_limit(seen[0]["body"]))
    assert reached == [32000, 16] + ([32000] if path == "/v1/chat/completions" else []), route
