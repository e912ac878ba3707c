"""Part 1: `ccprov workstation` into a fresh HOME, fresh and re-run, and its slowest tasks."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import BIN, ansible_env, inventory, playbook, spread, timed
from tests.support.paths import REPO


def fresh_workstation(
    tmp: Path, backend_url: str, key: str
) -> tuple[Path, dict[str, str], list[str]]:
    """An empty HOME in TMP, its environment, and `ccprov workstation` for it (key in a file)."""
    home = tmp / "home"
    home.mkdir()
    key_file = tmp / "key"
    key_file.write_text(key + "\n")
    command = [
        str(BIN / "ccprov"),
        "workstation",
        "--base-url",
        backend_url,
        "--token-file",
        str(key_file),
        "--yes",
    ]
    return home, {**os.environ, "HOME": str(home)}, command


def onboarding(runs: int, backend_url: str, key: str) -> dict[str, Any]:
    fresh: list[float] = []
    rerun: list[float] = []
    ansible_fresh: list[float] = []
    check: list[float] = []
    changed_rerun: list[int] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            _, env, command = fresh_workstation(Path(tmp), backend_url, key)
            seconds, proc = timed(command, env=env, text=True)
            fresh.append(seconds)
            ansible_fresh.append(float(proc.stdout.split("Done in ")[1].split("s")[0]))
            check.append(float(proc.stdout.split("answered in ")[1].split(" ms")[0]) / 1000)
            seconds, proc = timed(command, env=env, text=True)
            rerun.append(seconds)
            changed_rerun.append(int(proc.stdout.split("Done in ")[1].split(": ")[1].split()[0]))
    return {
        "fresh_total_s": spread(fresh),
        "fresh_ansible_s": spread(ansible_fresh),
        "live_check_s": spread(check),
        "rerun_total_s": spread(rerun),
        "rerun_changed": max(changed_rerun),
        "targets": {"fresh_s": 5.0, "rerun_s": 3.0},
    }


def slowest_tasks(backend_url: str, key: str) -> list[tuple[str, float]]:
    """profile_tasks over one fresh run of the workstation play."""
    with tempfile.TemporaryDirectory() as tmp:
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        hosts = inventory(Path(tmp) / "inv.json", "workstations", {"localhost": local})
        variables = Path(tmp) / "vars.json"
        variables.write_text(
            json.dumps(
                {
                    "workstation_home": str(Path(tmp)),
                    "workstation_user": os.environ.get("USER", "root"),
                    "workstation_local_base_url": backend_url,
                    "workstation_local_token": key,
                }
            )
        )
        env = ansible_env(
            ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", ANSIBLE_NOCOLOR="1"
        )
        command = playbook(REPO / "playbooks/workstations.yml", hosts, "-e", f"@{variables}")
        out = timed(command, env=env, text=True)[1].stdout
    rows = []
    for line in out.splitlines():
        if " -" in line and line.rstrip().endswith("s") and ":" in line:
            name, _, seconds = line.rpartition(" ")
            try:
                rows.append((name.strip(" -").split(" : ", 1)[-1], float(seconds.rstrip("s"))))
            except ValueError:
                continue
    return sorted(rows, key=lambda r: -r[1])[:6]


def measure(runs: int, backend_url: str, key: str) -> dict[str, Any]:
    """The part's figures: ONBOARDING's runs and one run's slowest tasks."""
    return {**onboarding(runs, backend_url, key), "slowest_tasks": slowest_tasks(backend_url, key)}
