"""ccprov benchmarks: how fast onboarding and the gateway are (figures, not pass/fail).

    .venv/bin/python -m bench [--runs 5] [--only onboarding,gateway] [--requests 200]

Prints the report, writes bench/results.json and regenerates bench/README.md after every
part (parts not run keep their last figures). Everything runs on this machine: the vLLM
stand-in (answers instantly) as the backend, the real pinned LiteLLM (installed from the
role's lock) as the gateway, the real ccprov CLI; `fleet` and `cold` use the test bed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bench import affinity, agents, cold, fleet, gateway, onboarding, report, route_compare
from bench.common import instant_standin
from tests.support.standin import free_port, start_standin

PARTS = ("onboarding", "fleet", "gateway", "cold", "agents", "routes", "affinity")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per onboarding figure")
    parser.add_argument("--requests", type=int, default=200, help="requests per gateway load")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help="comma list of benchmarks: " + ", ".join(PARTS),
    )
    parser.add_argument("--fleet-sizes", default="1,5,20", help="host counts for the fleet run")
    parser.add_argument(
        "--gateway-workers", default="1,2", help="LiteLLM worker counts for the gateway load"
    )
    parser.add_argument(
        "--gateway-variants",
        default=",".join(gateway.GATEWAY_VARIANTS),
        help="settings also tried at the most workers: "
        + ", ".join(gateway.GATEWAY_VARIANTS)
        + " ('' for none)",
    )
    args = parser.parse_args(argv)
    wanted = set(args.only.split(","))
    sizes = [int(n) for n in args.fleet_sizes.split(",")]
    gateway_workers = [int(n) for n in args.gateway_workers.split(",")]
    variants = [v for v in args.gateway_variants.split(",") if v]
    unknown = sorted(set(variants) - set(gateway.GATEWAY_VARIANTS))
    if unknown:
        parser.error(f"unknown --gateway-variants {', '.join(unknown)}")
    instant_standin()
    port = free_port()
    key = "sk-bench-standin-0123456789abcdef0123"
    standin = start_standin(port, key)
    backend = f"http://127.0.0.1:{port}"
    results = report.load()
    try:
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "onboarding": lambda: onboarding.measure(args.runs, backend, key),
            "fleet": lambda: fleet.fleet(sizes, max(1, args.runs // 2)),
            "gateway": lambda: gateway.gateway(
                backend, key, args.requests, gateway_workers, variants
            ),
            "cold": lambda: cold.cold_provision(max(1, args.runs // 2)),
            "agents": lambda: agents.agents(args.runs, backend, key),
            "routes": lambda: route_compare.compare(args.requests),
            "affinity": lambda: affinity.bench(),
        }
        for name in PARTS:
            if name in wanted:
                print(f"bench: {name} ...", flush=True)
                report.record(results, name, steps[name]())
    finally:
        standin.terminate()
    print(report.render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
