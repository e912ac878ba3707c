"""ansible-playbook run from a test, as the role tests assert on it: output captured, one
JSON line per task result (long messages are not wrapped across lines, as molecule's YAML
results would be), no colour, and no exception on failure (the tests assert on refusals).

Molecule's testinfra tests import this too: pytest finds the repository's pyproject.toml
above roles/*/molecule/*/tests, and its `pythonpath` puts the repository on sys.path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_playbook(
    playbook: Path,
    inventory: str | Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook PLAYBOOK -i INVENTORY EXTRA..., with ENV over the environment."""
    beside = Path(sys.executable).parent / "ansible-playbook"  # this venv's, as ccprov runs it
    command = str(beside) if beside.exists() else "ansible-playbook"
    return subprocess.run(
        [command, "-i", str(inventory), str(playbook), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={
            **os.environ,
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            **(env or {}),
        },
    )


def play(*extra: str) -> subprocess.CompletedProcess[str]:
    """In `molecule verify`: the scenario's converge play again against its test hosts, with
    EXTRA (other variables, --limit)."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    return run_playbook(scenario / "converge.yml", os.environ["MOLECULE_INVENTORY_FILE"], *extra)
