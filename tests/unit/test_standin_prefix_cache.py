"""The vLLM stand-in's prefix cache, as vLLM 0.33.0 does it (paths inside its wheel):
- v1/metrics/loggers.py:661-679 (labels from loggers.py:499-504): the Prometheus counters
  `vllm:prefix_cache_queries` and `vllm:prefix_cache_hits`, in tokens, labels model_name
  and engine, exposed by prometheus_client as `..._total`;
- v1/core/kv_cache_utils.py:707-737 `hash_block_tokens` (chained block hashes) and
  config/cache.py:185 (16-token blocks); v1/core/kv_cache_manager.py:295-307 (a hit stops
  one token short of the prompt) and :255-264 (queries = the prompt's tokens);
- entrypoints/openai/chat_completion/serving.py:95-113 and entrypoints/anthropic/serving.py:
  75-107: cached tokens in usage only with --enable-prompt-tokens-details.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ccprov.probes import status_probe
from tests.conftest import STANDIN_SRC, Backend, free_port
from tests.unit.test_standin_vllm import call, chat, sse_data

sys.path.insert(0, str(STANDIN_SRC))
from vllm.prefix_cache import Prefill, PrefixCache

KEY = "sk-prefix-cache"


def start(*flags: str, **env: str) -> subprocess.Popen[bytes]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "vllm", "serve", "m", "--served-model-name", "devstral"),
            *("--host", "127.0.0.1", "--port", str(port), "--api-key", KEY, *flags),
        ],
        env={**os.environ, "PYTHONPATH": str(STANDIN_SRC), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    for _ in range(300):
        try:
            with urllib.request.urlopen(proc.url + "/health", timeout=1):  # type: ignore[attr-defined]
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the stand-in did not start")


@pytest.fixture
def replica() -> Iterator[Backend]:
    """A fresh stand-in (empty cache) that answers at once and reports cached tokens."""
    proc = start(
        "--enable-prompt-tokens-details",
        VLLM_STANDIN_TTFT_BASE_MS="0",
        VLLM_STANDIN_TTFT_PER_1K_MS="0",
    )
    try:
        yield Backend(proc.url, KEY)  # type: ignore[attr-defined]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


PREFIX_CACHE_COUNTERS = ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total")


def metrics(backend: Backend) -> dict[str, float]:
    """The stand-in's two prefix-cache counters, with vLLM's labels (loggers.py:499-504)."""
    with urllib.request.urlopen(backend.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "# TYPE vllm:prefix_cache_queries_total counter" in text
    assert 'vllm:prefix_cache_hits_total{engine="0",model_name="devstral"} ' in text
    totals = status_probe.metric_totals(text)
    return {name: totals[name] for name in PREFIX_CACHE_COUNTERS}


def conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You help. " * 100}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"Question {i}: " + "words here " * 40})
        messages.append({"role": "assistant", "content": f"Answer {i}."})
    return messages[:-1]


def test_block_hashes_chain_and_hits_stop_short_of_the_last_token() -> None:
    cache = PrefixCache(capacity_blocks=100)
    a = [f"t{i}" for i in range(40)]  # 2 full blocks + 8 tokens
    first = cache.lookup_and_insert(a)
    assert (first.tokens, first.cached, first.created) == (40, 0, 32)
    again = cache.lookup_and_insert(a)
    assert again.cached == 32 and again.created == 0
    # Same second block, different first block: the chain does not match.
    b = ["x", *a[1:]]
    assert cache.lookup_and_insert(b).cached == 0
    # Exactly 32 tokens cached: the hit stops one token short (kv_cache_manager.py:301-302).
    assert cache.lookup_and_insert(a[:32]).cached == 16
    assert (cache.queries, cache.hits) == (40 + 40 + 40 + 32, 0 + 32 + 0 + 16)


def test_lru_evicts_least_recently_used_tail_blocks_first() -> None:
    """Blocks are freed in reverse order, so a request's tail goes before its head
    (v1/core/single_type_kv_cache_manager.py:598-599)."""
    cache = PrefixCache(capacity_blocks=2, block_size=2)
    cache.lookup_and_insert(["a", "b", "c", "d", "e"])  # blocks ab, ab+cd
    cache.lookup_and_insert(["x", "y", "z"])  # block xy evicts ab+cd, the tail
    assert cache.lookup_and_insert(["a", "b", "c", "d", "e"]).cached == 2
    cache.lookup_and_insert(["x", "y", "z"])
    cache.lookup_and_insert(["p", "q", "r"])  # two new blocks: ab and ab+cd go
    assert cache.lookup_and_insert(["a", "b", "c", "d", "e"]).cached == 0
    disabled = PrefixCache(enabled=False)
    assert disabled.lookup_and_insert(["a"] * 40).cached == 0 and disabled.queries == 0


def test_ttft_grows_with_uncached_tokens() -> None:
    prefill = Prefill(base_ms=10, per_1k_ms=100)
    assert prefill.seconds(0) == pytest.approx(0.010)
    assert prefill.seconds(20_000) == pytest.approx(2.010)
    started = time.perf_counter()
    Prefill(base_ms=0, per_1k_ms=0).run(1_000_000)
    assert time.perf_counter() - started < 0.05


def test_metrics_count_queried_and_cached_tokens(replica: Backend) -> None:
    assert metrics(replica) == {
        "vllm:prefix_cache_queries_total": 0.0,
        "vllm:prefix_cache_hits_total": 0.0,
    }
    status, first = chat(replica, messages=conversation(2))
    assert status == 200
    prompt = first["usage"]["prompt_tokens"]
    details = first["usage"]["prompt_tokens_details"]
    assert details == {
        "cached_tokens": 0,
        "created_cache_tokens": prompt // 16 * 16,
        "multimodal_tokens": None,
    }
    # The next turn re-sends the conversation plus more: its prefix is cached.
    _status, second = chat(replica, messages=conversation(3))
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached == prompt // 16 * 16 - 16 or cached == prompt // 16 * 16
    assert cached > 0.8 * prompt
    assert metrics(replica) == {
        "vllm:prefix_cache_queries_total": float(prompt + second["usage"]["prompt_tokens"]),
        "vllm:prefix_cache_hits_total": float(cached),
    }


def test_anthropic_usage_splits_cache_reads_only_in_message_delta(replica: Backend) -> None:
    """anthropic/serving.py:1049 message_start from the first chunk (no details), :1079
    message_delta from the final usage chunk: cache_read_input_tokens and
    cache_creation_input_tokens, input_tokens = prompt - both (serving.py:75-107)."""
    body = {
        "model": "devstral",
        "max_tokens": 50,
        "system": "You help. " * 100,
        "messages": [{"role": "user", "content": "Say HI"}],
    }
    call(replica, "/v1/messages", body)  # warms the cache
    _status, text = call(replica, "/v1/messages", {**body, "stream": True})
    events = {e["type"]: e for e in sse_data(text) if isinstance(e, dict)}
    start_usage = events["message_start"]["message"]["usage"]
    assert set(start_usage) == {"input_tokens", "output_tokens"}
    usage = events["message_delta"]["usage"]
    prompt = start_usage["input_tokens"]
    assert usage["cache_read_input_tokens"] > 0
    assert (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
        == prompt
    )
    status, full = call(replica, "/v1/messages", body)
    assert status == 200 and json.loads(full)["usage"]["cache_read_input_tokens"] > 0


def test_without_the_flag_usage_has_no_cache_fields(standin_vllm: Backend) -> None:
    status, body = chat(standin_vllm, messages=[{"role": "user", "content": "Say A"}])
    assert status == 200 and body["usage"]["prompt_tokens_details"] is None
    _status, text = call(
        standin_vllm,
        "/v1/messages",
        {"model": "devstral", "max_tokens": 9, "messages": [{"role": "user", "content": "Say A"}]},
    )
    assert "cache_read_input_tokens" not in json.loads(text)["usage"]


def test_ttft_and_capacity_flags() -> None:
    """--num-gpu-blocks-override bounds the cache; the first token waits for the prefill of
    the uncached tokens (VLLM_STANDIN_TTFT_BASE_MS + _PER_1K_MS x uncached / 1000)."""
    proc = start(
        "--num-gpu-blocks-override",
        "1",
        "--enable-prompt-tokens-details",
        VLLM_STANDIN_TTFT_BASE_MS="0",
        VLLM_STANDIN_TTFT_PER_1K_MS="400",
    )
    try:
        backend = Backend(proc.url, KEY)  # type: ignore[attr-defined]
        messages = conversation(3)
        started = time.perf_counter()
        _status, first = chat(backend, messages=messages)
        cold = time.perf_counter() - started
        prompt = first["usage"]["prompt_tokens"]
        assert cold >= 0.4 * prompt / 1000 * 0.9
        _status, again = chat(backend, messages=messages)
        # One block of capacity: only the first block can be cached.
        assert again["usage"]["prompt_tokens_details"]["cached_tokens"] == 16
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_fleet_status_reads_the_hit_rate_from_vllms_counters(replica: Backend) -> None:
    """`ccprov status -i` shows, per GPU host, the share of prompt tokens its prefix cache
    served (issue #19): computed from the counters vLLM exposes, here the stand-in's."""

    def text() -> str:
        with urllib.request.urlopen(replica.url + "/metrics", timeout=5) as response:
            return response.read().decode()

    assert status_probe.prefix_cache_hit_rate(text()) == "-"  # nothing queried yet
    chat(replica, messages=conversation(2))
    assert status_probe.prefix_cache_hit_rate(text()) == "0.0%"
    chat(replica, messages=conversation(3))
    counts = metrics(replica)
    expected = (
        100 * counts["vllm:prefix_cache_hits_total"] / counts["vllm:prefix_cache_queries_total"]
    )
    assert status_probe.prefix_cache_hit_rate(text()) == f"{expected:.1f}%"
    assert 30 < expected < 50  # the second turn's prompt was mostly cached
