"""tests/run-all.sh's budget check: a whole run over CCPROV_CI_BUDGET seconds fails with a
message naming the budget, after the tests themselves have passed (stages stand-ins here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import REPO


def run_all(stages: Path, budget: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CCPROV_STAGES_DIR": str(stages), "CCPROV_CI_BUDGET": str(budget)}
    return subprocess.run(
        ["bash", str(REPO / "tests/run-all.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stages_taking(tmp_path: Path, seconds: int) -> Path:
    (tmp_path / "10-slow.sh").write_text(f"sleep {seconds}\n")
    (tmp_path / "20-quick.sh").write_text("true\n")
    return tmp_path


def test_a_run_over_budget_fails_and_says_why(tmp_path: Path) -> None:
    proc = run_all(stages_taking(tmp_path, 2), budget=1)
    assert proc.returncode != 0
    assert "budget: FAILED: the whole run took 2s, over the 1s budget" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1] == "stages: 2 passed, 1 failed"


def test_a_run_within_budget_passes_and_prints_the_total(tmp_path: Path) -> None:
    proc = run_all(stages_taking(tmp_path, 1), budget=60)
    assert proc.returncode == 0, proc.stdout
    assert "budget:" not in proc.stdout
    assert any(line.startswith("total ") for line in proc.stdout.splitlines())
    assert proc.stdout.rstrip().splitlines()[-1] == "stages: 2 passed, 0 failed"


def test_one_stage_alone_is_not_held_to_the_budget(tmp_path: Path) -> None:
    proc = run_all(stages_taking(tmp_path, 2), 1, "10-slow")
    assert proc.returncode == 0, proc.stdout
    assert "budget:" not in proc.stdout
