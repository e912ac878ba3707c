"""`ccprov smoke` runs the reference page's verified tests with the real claude CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CLAUDE

CCPROV = str(Path(sys.executable).parent / "ccprov")


def test_smoke_table_against_the_stand_in(tmp_path, standin_vllm) -> None:
    env_file = tmp_path / "backends.env"
    env_file.write_text(
        f'LOCAL_BASE_URL="{standin_vllm.url}"\nLOCAL_TOKEN="{standin_vllm.api_key}"\n'
        'LOCAL_MODEL="devstral"\n'
    )
    proc = subprocess.run(
        [CCPROV, "smoke", "--env-file", str(env_file), "--claude", str(CLAUDE), "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    print(proc.stdout)
    lines = {
        row.split("|")[1].strip(): row for row in proc.stdout.splitlines() if row.startswith("| ")
    }
    # The stand-in can say things and read files; the real model is needed for the rest.
    for case in (
        "Simple prompt",
        "File reading (Read tool)",
        "Headless mode (-p flag)",
        "--dangerously-skip-permissions",
        "Without --model flag (ANTHROPIC_MODEL)",
        "Error recovery (missing file)",
    ):
        assert "| Pass (" in lines[case], lines.get(case)
    for case in ("Code generation", "Code review (3 bugs)", "Reasoning (mutex vs semaphore)"):
        assert "| FAIL (" in lines[case] and "expected" in lines[case]
    assert proc.returncode == 1  # some cases fail against a stand-in, and the exit says so
    assert standin_vllm.api_key not in proc.stdout + proc.stderr


def test_smoke_needs_a_configured_backend(tmp_path) -> None:
    env_file = tmp_path / "backends.env"
    env_file.write_text('LOCAL_BASE_URL=""\n')
    proc = subprocess.run(
        [CCPROV, "smoke", "--env-file", str(env_file)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert "backend 'local' is not configured" in proc.stderr
