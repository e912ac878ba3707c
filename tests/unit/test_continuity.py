"""The continuity harness (tests/support/continuity.py) counts what a user would: against a
vLLM stand-in straight (its own /v1/messages), turns that work are not failures, and a
backend that dies under the sessions fails turns raw and, with no other backend to retry
on, after the retries too."""

from __future__ import annotations

import signal

import pytest

from tests.support.continuity import during
from tests.support.standin import free_port, start_standin

KEY = "sk-continuity-standin-0123456789abcdef"


@pytest.fixture
def paced(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_STANDIN_TOKEN_DELAY", "0.1")


def test_a_quiet_window_fails_nothing(paced) -> None:
    port = free_port()
    proc = start_standin(port, KEY)
    try:
        row, _ = during(
            "quiet", lambda: None, [f"http://127.0.0.1:{port}"], KEY, None,
            sessions=2, before=2.0, after=2.0,
        )  # fmt: skip
    finally:
        proc.kill()
        proc.wait()
    assert row.turns >= 4 and row.failed_raw == 0 and row.failed == 0, row
    assert 0 < row.median_seconds <= row.max_seconds


def test_a_dead_backend_fails_turns_raw_and_after_retries(paced) -> None:
    port = free_port()
    proc = start_standin(port, KEY)

    def kill() -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    row, _ = during(
        "kill -9", kill, [f"http://127.0.0.1:{port}"], KEY, None,
        sessions=2, before=1.0, after=1.0, retries=1,
    )  # fmt: skip
    assert row.failed_raw >= 1 and row.failed >= 1, row
    assert any("Connection" in e or "URLError" in e for e in row.errors), row.errors
