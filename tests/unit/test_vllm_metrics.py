"""The one reader of vLLM's /metrics text (ccprov.probes.status_probe.metric_totals): `ccprov
status -i` on the GPU host, the stand-in's tests and the fleet benchmarks all use it."""

from __future__ import annotations

from ccprov.probes.status_probe import metric_totals, prefix_cache_hit_rate

# Shaped as vLLM 0.33.0 writes it through prometheus_client: labels sorted, one series per
# engine (v1/metrics/loggers.py:499-504) and per finished_reason (loggers.py:808-811).
TWO_ENGINES = """\
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="devstral"} 600.0
vllm:prefix_cache_queries_total{engine="1",model_name="devstral"} 200.0
vllm:prefix_cache_hits_total{engine="0",model_name="devstral"} 500.0
vllm:prefix_cache_hits_total{engine="1",model_name="devstral"} 200.0
vllm:prefix_cache_hits_created{engine="0",model_name="devstral"} 1.7650032e+09
vllm:request_success_total{engine="0",finished_reason="stop",model_name="a b"} 7.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="a b"} 2.0
vllm:num_requests_running{engine="0",model_name="devstral"} 1.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="devstral"} 9.0
not a sample
vllm:num_requests_waiting{engine="0",model_name="devstral"} many
"""


def test_each_name_sums_its_series_and_skips_what_does_not_parse() -> None:
    assert metric_totals(TWO_ENGINES) == {
        "vllm:prefix_cache_queries_total": 800.0,
        "vllm:prefix_cache_hits_total": 700.0,
        "vllm:prefix_cache_hits_created": 1.7650032e09,
        "vllm:request_success_total": 9.0,  # stop + length: a label value with a space
        "vllm:num_requests_running": 1.0,
        "vllm:e2e_request_latency_seconds_bucket": 9.0,
    }


def test_the_hit_rate_is_over_every_engine() -> None:
    assert prefix_cache_hit_rate(TWO_ENGINES) == "87.5%"
    assert prefix_cache_hit_rate("") == "-"
    assert prefix_cache_hit_rate(TWO_ENGINES.replace("600.0", "-600.0")) == "-"
