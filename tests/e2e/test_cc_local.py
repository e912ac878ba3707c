"""One command gives a working cc-local: ccprov workstation, then the real `claude` CLI
through claude-switch and the alias, against the vLLM stand-in's Anthropic endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CCPROV = str(Path(sys.executable).parent / "ccprov")


def onboard(developer, backend, tmp_path) -> None:
    """Onboard the developer as ops would on a shared machine: root runs ccprov --user."""
    key = tmp_path / "gateway.key"
    key.write_text(backend.api_key + "\n")
    key.chmod(0o600)
    command = [CCPROV, "workstation", "--base-url", backend.url, "--token-file", str(key), "--yes"]
    if os.geteuid() == 0:
        command += ["--user", developer.name]
        env = {**os.environ}
    else:
        env = {**os.environ, "HOME": str(developer.home)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the model answered" in proc.stdout


def test_cc_local_answers_say_ok(developer, standin_vllm, tmp_path) -> None:
    onboard(developer, standin_vllm, tmp_path)
    proc = developer.run('cc-local -p "Say OK" --output-format text')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "OK"
    assert "claude-switch: local ->" in proc.stdout


def test_cc_local_reads_a_file_with_the_read_tool(developer, standin_vllm, tmp_path) -> None:
    onboard(developer, standin_vllm, tmp_path)
    notes = developer.home / "notes.txt"
    notes.write_text("the secret word is pelican-7\n")
    notes.chmod(0o644)
    proc = developer.run(f'cc-local -p "Read {notes} and quote it" --output-format text')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pelican-7" in proc.stdout


def test_cloud_switch_clears_the_self_hosted_route(developer, standin_vllm, tmp_path) -> None:
    onboard(developer, standin_vllm, tmp_path)
    proc = developer.run(
        "source claude-switch local >/dev/null && source claude-switch cloud >/dev/null"
        " && env | grep -c '^ANTHROPIC_' || true"
    )
    assert proc.stdout.strip().splitlines()[-1] == "0"
