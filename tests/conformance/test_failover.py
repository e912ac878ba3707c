"""Two vLLM hosts behind one gateway (the role's config, default route): both serve, and
when one dies its requests move to the other with no error the client sees after the
router's retry (issue #22: "two backends both used, one killed")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccprov import conformance
from tests.conformance.conftest import FIXTURES
from tests.conftest import free_port, start_standin
from tests.e2e.conftest import Gateway, start_gateway

KEY = "sk-failover-vllm-key-0123456789abcdef"


def standin_with_log(dump: Path):
    port = free_port()
    return port, start_standin(port, KEY, dump=dump)


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory) -> Iterator[tuple[Gateway, list, list[Path]]]:
    tmp = tmp_path_factory.mktemp("failover")
    dumps = [tmp / "gpu1.jsonl", tmp / "gpu2.jsonl"]
    started = [standin_with_log(d) for d in dumps]
    urls = [f"http://127.0.0.1:{port}/v1" for port, _ in started]
    (tmp / "gateway").mkdir()
    proc, gateway = start_gateway(
        tmp / "gateway",
        urls[0].removesuffix("/v1"),
        KEY,
        extra_env={"LITELLM_BACKEND_KEY_2": KEY},
        # Spread and failover without session affinity (on by default with two backends,
        # which would pin the one key to one host): the gateway molecule scenario and the
        # site e2e cover affinity.
        extra_vars={
            "litellm_gateway_backends": [{"api_base": u} for u in urls],
            "litellm_gateway_affinity": "never",
        },
    )
    try:
        yield gateway, [p for _, p in started], dumps
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        for _, p in started:
            p.kill()
            p.wait(timeout=10)


def ask(gateway: Gateway, word: str) -> str:
    ctx = conformance.Context(
        conformance.Target(gateway.url, gateway.master_key, "devstral"), FIXTURES
    )
    say = {"role": "user", "content": f"Say {word}"}
    reply = ctx.messages({"max_tokens": 16, "messages": [say]})
    assert reply.status == 200, reply.body[:500]
    return "".join(b.get("text", "") for b in json.loads(reply.body)["content"])


def served(dump: Path) -> int:
    return len(dump.read_text().splitlines()) if dump.exists() else 0


def test_both_hosts_serve_then_one_dies_and_no_request_fails(two_hosts) -> None:
    gateway, standins, dumps = two_hosts
    for i in range(12):
        assert ask(gateway, f"A{i}") == f"A{i}"
    first = [served(d) for d in dumps]
    assert all(n > 0 for n in first), f"requests per host: {first}"

    standins[0].kill()
    standins[0].wait(timeout=10)
    for i in range(12):
        assert ask(gateway, f"B{i}") == f"B{i}"  # a 5xx or a timeout fails here
    after = [served(d) for d in dumps]
    assert after[0] == first[0] and after[1] == first[1] + 12, (first, after)
