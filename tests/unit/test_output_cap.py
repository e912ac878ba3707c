"""The gateway's output ceiling (roles/litellm_gateway/files/ccprov_output_cap.py, issue #28
finding 7): a request's max_tokens / max_completion_tokens lowered to the deployments'
ceiling before routing; the real gateway's path is tests/conformance/test_sampling_extras.py."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import REPO, load_file

cap = load_file("ccprov_output_cap", REPO / "roles/litellm_gateway/files/ccprov_output_cap.py")


def run(body: dict[str, Any], ceiling: int | None = 32000) -> dict[str, Any]:
    hook = cap.OutputCap(ceiling=lambda model: ceiling if model == "devstral" else None)
    return asyncio.run(hook.async_pre_call_hook(None, None, body, "acompletion"))


def test_a_larger_ask_becomes_the_ceiling_and_a_smaller_one_stays() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert (
        run({"model": "devstral", "messages": messages, "max_tokens": 250000})["max_tokens"]
        == 32000
    )
    assert run({"model": "devstral", "messages": messages, "max_tokens": 16})["max_tokens"] == 16
    both = run({"model": "devstral", "messages": messages, "max_completion_tokens": 10**6})
    assert both == {"model": "devstral", "messages": messages, "max_completion_tokens": 32000}


def test_no_ask_gets_the_ceiling_and_other_models_or_bodies_are_untouched() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert run({"model": "devstral", "messages": messages})["max_tokens"] == 32000
    other = {"model": "cloud-extra", "messages": messages, "max_tokens": 250000}
    assert run(dict(other)) == other
    no_messages = {"model": "devstral", "input": "embed me"}
    assert run(dict(no_messages)) == no_messages
    # Not a number: left for LiteLLM or vLLM to refuse with their own 400.
    odd = {"model": "devstral", "messages": messages, "max_tokens": "lots"}
    assert run(dict(odd)) == odd


def test_the_ceiling_is_the_smallest_and_needs_every_deployment() -> None:
    def deployment(value: Any) -> dict[str, Any]:
        return {"model_info": {"id": "x", cap.FLAG: value} if value is not None else {"id": "x"}}

    assert cap.ceiling_of([deployment(32000), deployment(8000)]) == 8000
    assert cap.ceiling_of([deployment(32000), deployment(None)]) is None
    assert cap.ceiling_of([deployment(True)]) is None
    assert cap.ceiling_of([]) is None
