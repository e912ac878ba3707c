"""vLLM 0.33's automatic prefix caching, as the stand-in models it (one per process, i.e.
one per replica), and the time a prefill of the uncached tokens takes.

What it copies (paths inside the vLLM 0.33.0 wheel):
- Blocks of `block_size` tokens, 16 by default (config/cache.py:185
  `CacheConfig.DEFAULT_BLOCK_SIZE = 16`; `--block-size`); only full blocks are hashed.
- Chained block hashes: each block's hash covers the previous block's hash and its own
  token ids (v1/core/kv_cache_utils.py:707-737 `hash_block_tokens`: `hash_function((
  parent_block_hash, curr_block_token_ids_tuple, extra_keys))`; sha256 by default,
  config/cache.py:259), so a block only matches when everything before it matches too.
- A request's cached tokens are the longest run of leading blocks already cached, at most
  `num_tokens - 1` (the last token is always recomputed for its logits:
  v1/core/kv_cache_manager.py:295-307 `get_computed_blocks`).
- Counters in tokens: queries += the prompt's tokens, hits += its cached tokens, for every
  request admitted while caching is on (kv_cache_manager.py:255-264
  `record_prefix_cache_stats`, v1/metrics/stats.py:138-155 `PrefixCacheStats.record`);
  nothing is counted with `--no-enable-prefix-caching` (`prefix_cache_lookup_enabled`).
- Freed blocks are evicted least recently used first when the cache is full, a request's
  tail blocks before its head (freed in reverse order: v1/core/
  single_type_kv_cache_manager.py:598-599); the stand-in keeps `capacity` blocks (vLLM's
  is what fits in GPU memory, `--num-gpu-blocks-override`).
- Tokens written to the cache by a request (`created_cache_tokens`): its full blocks minus
  the cached ones (v1/metrics/stats.py:341-345 `PrefillStats.finalize`).

The token ids are real tekken ids (tekken.py: the prompt as vLLM renders it), so block
boundaries fall where vLLM's would. Not copied: blocks are cached when the request is
admitted, not after its prefill step; generated tokens' blocks are not cached (the next
turn re-sends them as prompt tokens anyway).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

BLOCK_SIZE = 16
# Blocks kept per replica unless --num-gpu-blocks-override or VLLM_STANDIN_CACHE_BLOCKS say
# otherwise: 65536 blocks = 1,048,576 tokens, more than the affinity bench ever holds (20
# sessions x ~30k tokens on one replica), so its figures show routing, not eviction.
DEFAULT_CAPACITY_BLOCKS = 65536
# Time to the first token = TTFT_BASE_MS + TTFT_PER_1K_MS x uncached prompt tokens / 1000.
# The per-1k part is the replica's prefill: one request's at a time (a GPU's prefill
# throughput is shared by the requests it batches), so concurrent misses queue. Scaled down
# from a 123B model (tests stay fast); set both to 0 for a stand-in that answers at once.
DEFAULT_TTFT_BASE_MS = 5.0
DEFAULT_TTFT_PER_1K_MS = 20.0


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


@dataclass
class Lookup:
    tokens: int  # the prompt's tokens
    cached: int  # leading tokens found in the cache
    created: int  # tokens of full blocks this request wrote to the cache


class PrefixCache:
    """An LRU of chained block hashes with vLLM's hit rules and counters (thread-safe)."""

    def __init__(
        self,
        capacity_blocks: int = DEFAULT_CAPACITY_BLOCKS,
        block_size: int = BLOCK_SIZE,
        enabled: bool = True,
    ) -> None:
        if capacity_blocks < 1 or block_size < 1:
            raise ValueError("capacity_blocks and block_size must be positive")
        self.capacity = capacity_blocks
        self.block_size = block_size
        self.enabled = enabled
        self.blocks: OrderedDict[bytes, None] = OrderedDict()  # oldest first
        self.queries = 0  # vllm:prefix_cache_queries (tokens)
        self.hits = 0  # vllm:prefix_cache_hits (tokens)
        self.lock = threading.Lock()

    def block_hashes(self, tokens: Sequence[int | str]) -> list[bytes]:
        """hash_block_tokens over each full block, chained through the parent hash."""
        hashes: list[bytes] = []
        parent = b""
        size = self.block_size
        for start in range(0, len(tokens) - size + 1, size):
            block = "\x00".join(map(str, tokens[start : start + size])).encode()
            parent = hashlib.sha256(parent + b"\x01" + block).digest()
            hashes.append(parent)
        return hashes

    def lookup_and_insert(self, tokens: Sequence[int | str]) -> Lookup:
        """Count the request's cached prefix, then cache all its full blocks."""
        n = len(tokens)
        if not self.enabled:
            return Lookup(n, 0, 0)
        hashes = self.block_hashes(tokens)
        max_hit_blocks = max(0, n - 1) // self.block_size
        with self.lock:
            hit_blocks = 0
            for digest in hashes[:max_hit_blocks]:
                if digest not in self.blocks:
                    break
                hit_blocks += 1
            # Freed in reverse order, so the tail blocks are evicted first
            # (v1/core/single_type_kv_cache_manager.py:598-599).
            for digest in reversed(hashes):
                if digest in self.blocks:
                    self.blocks.move_to_end(digest)
                else:
                    self.blocks[digest] = None
            while len(self.blocks) > self.capacity:
                self.blocks.popitem(last=False)
            cached = hit_blocks * self.block_size
            self.queries += n
            self.hits += cached
        return Lookup(n, cached, max(0, len(hashes) * self.block_size - cached))


class Prefill:
    """The time to the first token: a fixed part plus the uncached tokens' prefill, which
    runs one request at a time per replica."""

    def __init__(self, base_ms: float | None = None, per_1k_ms: float | None = None) -> None:
        self.base_ms = (
            _env_float("VLLM_STANDIN_TTFT_BASE_MS", DEFAULT_TTFT_BASE_MS)
            if base_ms is None
            else base_ms
        )
        self.per_1k_ms = (
            _env_float("VLLM_STANDIN_TTFT_PER_1K_MS", DEFAULT_TTFT_PER_1K_MS)
            if per_1k_ms is None
            else per_1k_ms
        )
        self.engine = threading.Lock()

    def seconds(self, uncached: int) -> float:
        return (self.base_ms + self.per_1k_ms * uncached / 1000) / 1000

    def run(self, uncached: int) -> None:
        """Sleep for the base, then hold the replica's prefill for the uncached tokens."""
        if self.base_ms > 0:
            time.sleep(self.base_ms / 1000)
        busy = self.per_1k_ms * uncached / 1_000_000
        if busy > 0:
            with self.engine:
                time.sleep(busy)
