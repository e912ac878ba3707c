"""Part 2: the workstation play over 1, 5 and 20 test-bed hosts, beside Ansible's floor."""

from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ansible_env, playbook, spread, testbed_inventory, timed
from tests.support.paths import REPO


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (ansible-playbook, its workers, ssh)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (/proc/stat), the test-bed hosts included."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# Ansible's own floor: one module run per host (an SSH connection, a Python start), the
# least any play over these hosts costs.
FLOOR_PLAY = (
    "- name: One task\n  hosts: workstations\n  gather_facts: false\n"
    "  tasks:\n    - name: Ping\n      ansible.builtin.ping:\n"
)


def fleet(sizes: list[int], runs: int) -> dict[str, Any]:
    """Wall time of playbooks/workstations.yml over N hosts, SSH as shipped in ansible.cfg."""
    from tests.hostbed import hosts as testbed

    results: dict[str, Any] = {}
    biggest = max(sizes)
    names = {f"ccprov-bench{i:02d}": f"10.89.77.{100 + i}" for i in range(1, biggest + 1)}
    testbed.start(names)
    try:
        for name in names:
            testbed.sh("podman", "exec", name, "useradd", "-m", "-s", "/bin/bash", "dev")
        for size in sizes:
            chosen = dict(list(names.items())[:size])
            with tempfile.TemporaryDirectory() as tmp:
                inventory = testbed_inventory(
                    Path(tmp) / "hosts.json",
                    "workstations",
                    chosen,
                    {
                        "workstation_user": "dev",
                        "workstation_local_base_url": "http://gateway.bench:4000",
                        "workstation_local_token": "sk-bench-0123456789",
                    },
                )
                env = ansible_env()
                floor = Path(tmp) / "ping.yml"
                floor.write_text(FLOOR_PLAY)
                timings: dict[str, list[float]] = {"fresh": [], "rerun": [], "floor": []}
                cpu: dict[str, list[float]] = {"controller": [], "hosts": []}
                for _ in range(runs):
                    for name in chosen:  # a fresh home for every fresh run
                        testbed.sh(
                            "podman",
                            "exec",
                            name,
                            "bash",
                            "-c",
                            "rm -rf /home/dev && mkdir -m 750 /home/dev && chown dev: /home/dev",
                        )
                    for phase in ("fresh", "rerun"):
                        busy, own = machine_cpu_seconds(), children_cpu_seconds()
                        command = playbook(REPO / "playbooks/workstations.yml", inventory)
                        timings[phase].append(timed(command, env=env)[0])
                        if phase == "fresh":
                            controller = children_cpu_seconds() - own
                            cpu["controller"].append(controller)
                            cpu["hosts"].append(machine_cpu_seconds() - busy - controller)
                    timings["floor"].append(timed(playbook(floor, inventory), env=env)[0])
            results[str(size)] = {phase: spread(v) for phase, v in timings.items()}
            results[str(size)]["cpu_s"] = {k: spread(v)["median"] for k, v in cpu.items()}
    finally:
        testbed.remove(list(names))
    return results
