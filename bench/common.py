"""What the benchmark parts share: paths, figures (spread, percentile), timed commands,
Ansible runs and the test-bed hosts' inventories."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.paths import REPO

BIN = Path(sys.executable).parent
# The vLLM stand-in answers at once (no modelled prefill time: tests/standins/vllm/README.md)
# in every part but `affinity`, which sets its own time to the first token per replica.
INSTANT_STANDIN = {"VLLM_STANDIN_TTFT_BASE_MS": "0", "VLLM_STANDIN_TTFT_PER_1K_MS": "0"}


def instant_standin() -> None:
    """Stand-ins started from now on answer at once, unless the environment says otherwise."""
    for name, value in INSTANT_STANDIN.items():
        os.environ.setdefault(name, value)


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank Q-th percentile of VALUES."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def timed(command: list[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[Any]]:
    """Run COMMAND to the end (output captured, a failure raises); its wall seconds."""
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, check=True, **kwargs)
    return time.perf_counter() - start, proc


def ansible_env(**extra: str) -> dict[str, str]:
    """This environment with the repository's ansible.cfg (and EXTRA)."""
    return {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), **extra}


def playbook(path: Path, inventory: Path, *args: str) -> list[str]:
    """The ansible-playbook command for PATH over INVENTORY."""
    return [str(BIN / "ansible-playbook"), str(path), "-i", str(inventory), *args]


def inventory(
    path: Path,
    group: str,
    hosts: dict[str, dict[str, Any]],
    variables: dict[str, Any] | None = None,
) -> Path:
    """A JSON inventory at PATH: GROUP of HOSTS (name: host variables), with VARIABLES."""
    content: dict[str, Any] = {"hosts": hosts}
    if variables is not None:
        content["vars"] = variables
    path.write_text(json.dumps({group: content}))
    return path


def testbed_inventory(
    path: Path, group: str, hosts: dict[str, str], variables: dict[str, Any]
) -> Path:
    """A JSON inventory at PATH: GROUP of test-bed HOSTS (name: IP), root over SSH with the
    test-bed key, plus VARIABLES."""
    from tests.hostbed import hosts as testbed

    ssh = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(testbed.key_path()),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    }
    addresses = {name: {"ansible_host": ip} for name, ip in hosts.items()}
    return inventory(path, group, addresses, {**ssh, **variables})


def version(exe: Path) -> str:
    """The first line EXE --version prints."""
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    return (
        (proc.stdout.strip() or proc.stderr.strip()).splitlines()[0]
        if proc.stdout or proc.stderr
        else "?"
    )
