"""Sampling extras a developer's body could use to hold the GPUs (issue #28 finding 7): none
reaches the backend through the real gateway, on either route. Before, `n`, `ignore_eos`,
`min_tokens` and `logit_bias` all reached vLLM, so rpm and max_parallel did not bound the
tokens one key could make the GPUs produce."""

from __future__ import annotations

import pytest

from ccprov import conformance
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
