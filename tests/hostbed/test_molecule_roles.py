"""Every role's molecule scenarios on the test bed, plus the test bed's own self-tests.

Run by tests/stages/40-molecule.sh: `pytest -m hostbed -s tests/hostbed`. Molecule's output
streams to the log; each scenario's time is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.hostbed

PROBE_ROLE = REPO / "tests/hostbed/roles/hostbed_probe"


def scenarios() -> list[tuple[Path, str]]:
    found = []
    for molecule_yml in sorted(REPO.glob("roles/*/molecule/*/molecule.yml")):
        scenario_dir = molecule_yml.parent
        if (scenario_dir / ".opt-in").exists():  # e.g. a real-GPU scenario
            continue
        found.append((scenario_dir.parent.parent, scenario_dir.name))
    return found


def molecule(
    role_dir: Path, scenario: str, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    start = time.monotonic()
    proc = subprocess.run(
        ["molecule", "test", "-s", scenario],
        cwd=role_dir,
        env=env,
        text=True,
        capture_output=capture,
        timeout=3600,
        check=False,
    )
    print(
        f"\n### molecule {role_dir.name}/{scenario}: rc={proc.returncode} "
        f"in {time.monotonic() - start:.0f}s",
        flush=True,
    )
    return proc


def test_hosts_run_systemd_and_real_units() -> None:
    assert molecule(PROBE_ROLE, "default").returncode == 0


def test_a_unit_that_does_not_start_fails_the_scenario() -> None:
    proc = molecule(PROBE_ROLE, "broken", capture=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "Unable to start service hostbed-probe.service" in output


@pytest.mark.parametrize(
    ("role_dir", "scenario"), scenarios(), ids=[f"{r.name}/{s}" for r, s in scenarios()]
)
def test_role_scenario(role_dir: Path, scenario: str) -> None:
    assert molecule(role_dir, scenario).returncode == 0
