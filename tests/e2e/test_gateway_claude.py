"""The real Claude Code CLI through the real pinned LiteLLM gateway to the vLLM stand-in,
with the workstation role's variables (as `cc-local` sets them)."""

from __future__ import annotations

import pytest

from tests.e2e.test_cc_local import onboard

pytestmark = pytest.mark.slow


def test_claude_says_ok_through_the_gateway(developer, gateway, tmp_path) -> None:
    onboard(developer, gateway_backend(gateway), tmp_path)
    proc = developer.run('cc-local -p "Say OK" --output-format text')
    assert proc.returncode == 0, proc.stdout + proc.stderr + gateway.log.read_text()[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "OK"


def test_read_tool_round_trip_through_the_gateway(developer, gateway, tmp_path) -> None:
    onboard(developer, gateway_backend(gateway), tmp_path)
    notes = developer.home / "plan.txt"
    notes.write_text("step one: rotate the keys\n")
    notes.chmod(0o644)
    proc = developer.run(f'cc-local -p "Read {notes} and tell me step one" --output-format text')
    assert proc.returncode == 0, proc.stdout + proc.stderr + gateway.log.read_text()[-2000:]
    assert "rotate the keys" in proc.stdout


def gateway_backend(gateway):
    from tests.conftest import Backend

    return Backend(gateway.url, gateway.master_key)
