"""cc-vibe end to end on this machine: `ccprov workstation --vibe` installs the loopback
LiteLLM proxy (the gateway's guarded install steps) for an ordinary developer; here there is
no systemd, so `claude-switch vibe` starts it on demand and the real `claude` CLI reaches a
Mistral API stand-in through it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

CCPROV = str(Path(sys.executable).parent / "ccprov")
MISTRAL_KEY = "sk-mistral-e2e-0123456789"
STANDIN = REPO / "tests/standins/mistral_api/mistral_api_standin.py"


@pytest.fixture(scope="module")
def mistral_api(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The Mistral API stand-in on loopback, logging each request."""
    port = free_port()
    log = tmp_path_factory.mktemp("mistral") / "requests.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(STANDIN),
            "--port",
            str(port),
            "--api-key",
            MISTRAL_KEY,
            "--request-log",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}/v1", log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def vibe_developer(developer_module, standin_vllm, mistral_api, tmp_path_factory):
    """One developer onboarded with --vibe (the LiteLLM install takes a minute)."""
    tmp = tmp_path_factory.mktemp("vibe")
    (tmp / "gateway.key").write_text(standin_vllm.api_key + "\n")
    (tmp / "mistral.key").write_text(MISTRAL_KEY + "\n")
    port = free_port()
    command = [
        CCPROV,
        "workstation",
        "--base-url",
        standin_vllm.url,
        "--token-file",
        str(tmp / "gateway.key"),
        "--yes",
        "--no-verify",
        "--vibe",
        "--mistral-key-file",
        str(tmp / "mistral.key"),
        "--mistral-api-base",
        mistral_api[0],
        "--vibe-port",
        str(port),
    ]
    env = {**os.environ}
    if os.geteuid() == 0:
        command += ["--user", developer_module.name]
    else:
        env["HOME"] = str(developer_module.home)
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert MISTRAL_KEY not in proc.stdout + proc.stderr
    yield developer_module, port
    developer_module.run("ccprov-vibe-proxy stop")


def test_cc_vibe_answers_through_the_local_proxy(vibe_developer, mistral_api) -> None:
    developer, port = vibe_developer
    proc = developer.run('cc-vibe -p "Say OK" --output-format text', timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "OK"
    assert f"claude-switch: vibe -> http://127.0.0.1:{port}" in proc.stdout
    models = {json.loads(line)["model"] for line in mistral_api[1].read_text().splitlines()}
    assert models == {"devstral-medium-latest"}
    status = developer.run("ccprov-vibe-proxy status")
    assert "running, healthy (on-demand)" in status.stdout
    state = developer.home / ".local/state/ccprov"
    assert (state / "vibe-proxy.pid").exists() and (state / "vibe-proxy.log").exists()
    assert oct(state.stat().st_mode & 0o777) == "0o700"


def test_no_mistral_key_names_the_variable_and_keeps_the_shell(vibe_developer) -> None:
    developer, _ = vibe_developer
    env_file = developer.home / ".config/ccprov/vibe-proxy/env"
    original = env_file.read_text()
    try:
        env_file.write_text(
            "\n".join(
                'MISTRAL_API_KEY=""' if line.startswith("MISTRAL_API_KEY=") else line
                for line in original.splitlines()
            )
            + "\n"
        )
        proc = developer.run(
            "source claude-switch local >/dev/null; source claude-switch vibe;"
            ' echo "rc=$? backend=$CLAUDE_SWITCH_BACKEND"'
        )
        assert "rc=1 backend=local" in proc.stdout
        assert f"MISTRAL_API_KEY is empty in {env_file}" in proc.stderr
    finally:
        env_file.write_text(original)


def test_port_taken_names_the_process_and_kills_nothing(vibe_developer) -> None:
    developer, port = vibe_developer
    developer.run("ccprov-vibe-proxy stop")
    squatter = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Listening for sure before the switcher looks (a loaded machine starts it slowly).
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and squatter.poll() is None, "squatter failed"
            time.sleep(0.1)
        proc = developer.run('source claude-switch vibe; echo "rc=$?"')
        assert "rc=1" in proc.stdout
        assert f"port {port} is taken by" in proc.stderr
        assert "nothing was stopped" in proc.stderr
        assert squatter.poll() is None, "the other program was killed"
    finally:
        squatter.terminate()
        squatter.wait(timeout=10)
