"""Part 4: a bare test-bed host to a healthy gateway, with pip and with the role's uv."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ansible_env, playbook, spread, testbed_inventory, timed
from tests.support.paths import REPO

# The test gateway's admin key (the role refuses one under 32 characters).
MASTER_KEY = "sk-bench-master-0123456789abcdef0123"


def wheelhouse() -> Path:
    """The run's wheel cache (tests/wheelhouse.sh: the gateway's and uv's hash locks, for
    the controller's and the hosts' Python), pushed by the role as an offline wheelhouse."""
    subprocess.run(["bash", str(REPO / "tests/wheelhouse.sh")], check=True)
    return REPO / ".cache/wheelhouse"


def cold_provision(runs: int) -> dict[str, Any]:
    """A bare test-bed host to a healthy gateway, with pip and with the role's bootstrapped
    uv, each from the package index and from a warm wheelhouse pushed by the controller."""
    from tests.hostbed import hosts as testbed

    name, ip = "ccprov-cold1", "10.89.77.150"
    results: dict[str, Any] = {}
    house = wheelhouse()
    for installer, source in (
        ("pip", "package index"),
        ("pip", "warm wheelhouse"),
        ("uv", "package index"),
        ("uv", "warm wheelhouse"),
    ):
        label = f"{installer}, {source}"
        extra = {"litellm_gateway_installer": installer}
        if source == "warm wheelhouse":
            extra["litellm_gateway_wheelhouse"] = str(house)
        times = []
        for _ in range(runs):
            testbed.start({name: ip})
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    inventory = testbed_inventory(
                        Path(tmp) / "hosts.json",
                        "gateways",
                        {name: ip},
                        {
                            "litellm_gateway_master_key": MASTER_KEY,
                            "litellm_gateway_backends": [{"api_base": "http://127.0.0.1:8000/v1"}],
                            "litellm_gateway_smoke_test": False,
                            **extra,
                        },
                    )
                    command = playbook(REPO / "playbooks/gateways.yml", inventory)
                    times.append(timed(command, env=ansible_env())[0])
            finally:
                testbed.remove([name])
        results[label] = spread(times)
    return results
