"""The live check after set-up and `ccprov status`, against the vLLM stand-in on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ccprov.workstation import probe
from tests.conftest import free_port

CCPROV = str(Path(sys.executable).parent / "ccprov")


def ccprov(home: Path, *args: str, env: dict[str, str] | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CCPROV_", "CLAUDE_"))}
    return subprocess.run(
        [CCPROV, *args],
        env={**base, "HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def key_file(tmp_path: Path):
    def make(key: str) -> Path:
        path = tmp_path / f"key-{len(key)}-{key[-3:]}"
        path.write_text(key + "\n")
        path.chmod(0o600)
        return path

    return make


def test_probe_success_reports_reply_and_latency(standin_vllm) -> None:
    result = probe.send_message(standin_vllm.url, standin_vllm.api_key, "devstral")
    assert result.ok and result.detail == "OK" and result.latency_ms > 0


def test_probe_diagnoses_each_failure(standin_vllm) -> None:
    rejected = probe.send_message(standin_vllm.url, "sk-wrong-key", "devstral")
    assert not rejected.ok and rejected.status == 401 and rejected.detail.startswith("key rejected")
    unknown = probe.send_message(standin_vllm.url, standin_vllm.api_key, "mistral-large")
    assert not unknown.ok and unknown.detail.startswith("unknown model 'mistral-large'")
    refused = probe.send_message(f"http://127.0.0.1:{free_port()}", "k", "devstral")
    assert not refused.ok and refused.detail.startswith("connection refused")


def test_probe_diagnoses_dns(monkeypatch) -> None:
    import urllib.error

    def fail(*_a, **_k):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(probe, "_open", fail)
    result = probe.send_message("http://gateway.nowhere.example", "k", "devstral")
    assert (
        result.detail
        == "cannot resolve host 'gateway.nowhere.example' (DNS): check the URL's host name"
    )


def test_workstation_verifies_live_and_prints_next_steps(tmp_path, standin_vllm, key_file) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc = ccprov(
        home,
        "workstation",
        "--base-url",
        standin_vllm.url,
        "--token-file",
        str(key_file(standin_vllm.api_key)),
        "--yes",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the model answered in" in proc.stdout and "'OK'" in proc.stdout
    assert "source ~/.bashrc && cc-local" in proc.stdout


def test_workstation_reports_a_rejected_key(tmp_path, standin_vllm, key_file) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc = ccprov(
        home,
        "workstation",
        "--base-url",
        standin_vllm.url,
        "--token-file",
        str(key_file("sk-not-the-right-key")),
        "--yes",
    )
    assert proc.returncode == 3
    assert "live check failed: key rejected (401)" in proc.stderr
    assert "sk-not-the-right-key" not in proc.stdout + proc.stderr


def test_status_tells_key_rejected_from_gateway_down(tmp_path, standin_vllm) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env_file = home / ".claude-backends.env"
    dead = f"http://127.0.0.1:{free_port()}"
    env_file.write_text(
        f'LOCAL_BASE_URL="{standin_vllm.url}"\nLOCAL_TOKEN="{standin_vllm.api_key}"\n'
        'LOCAL_MODEL="devstral"\n'
        f'VLLM_BASE_URL="{standin_vllm.url}"\nVLLM_TOKEN="sk-wrong-0123456789"\nVLLM_MODEL="devstral"\n'
        f'OLLAMA_BASE_URL="{dead}"\nOLLAMA_TOKEN="ollama"\nOLLAMA_MODEL="devstral"\n'
        f'LMSTUDIO_BASE_URL="{standin_vllm.url}"\nLMSTUDIO_TOKEN="{standin_vllm.api_key}"\n'
        'LMSTUDIO_MODEL="qwen-coder"\n'
    )
    ok = ccprov(home, "status")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout
    assert "serves devstral" in lines
    assert "key rejected (401)" in lines
    assert "down: connection refused" in lines
    assert "model 'qwen-coder' is not served (has: devstral)" in lines
    assert standin_vllm.api_key not in lines and "sk-wrong-0123456789" not in lines
    # The active backend decides the exit code.
    bad = ccprov(home, "status", env={"CLAUDE_SWITCH_BACKEND": "vllm"})
    assert bad.returncode == 1
    assert "* vllm" in bad.stdout


def test_status_with_a_broken_env_file(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude-backends.env").write_text("LOCAL_BASE_URL=http://x\nnot an assignment\n")
    proc = ccprov(home, "status")
    assert proc.returncode == 2
    assert "line 2 is not KEY=value" in proc.stderr
    missing = ccprov(tmp_path, "status")
    assert missing.returncode == 2 and "does not exist; run `ccprov workstation`" in missing.stderr
