"""`systemctl reload litellm` (issue #29) on the real pinned LiteLLM with two workers: the
role's ExecReload (roles/litellm_gateway/files/ccprov_reload.py) sends uvicorn's supervisor
SIGHUP, which replaces the workers one at a time (uvicorn 0.54 supervisors/multiprocess.py,
restart_all: the new worker serves before the old one stops, and the old one finishes its
requests in flight). Turns stream through it meanwhile, from a vLLM stand-in paced like a
GPU: none fails, the new config serves after, and the main process is the same one."""

from __future__ import annotations

import json
import subprocess
import urllib.request

from tests.conftest import REPO, load_file
from tests.support.continuity import during
from tests.support.gateway import ensure_litellm_venv, render_gateway_config, start_gateway
from tests.support.standin import free_port, start_standin

KEY = "sk-reload-standin-0123456789abcdef0123"
RELOAD = REPO / "roles/litellm_gateway/files/ccprov_reload.py"


def models(url: str, key: str) -> list[str]:
    request = urllib.request.Request(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [m["id"] for m in json.load(response)["data"]]


def test_a_reload_takes_the_new_config_and_cuts_no_turn(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_STANDIN_TOKEN_DELAY", "0.2")
    port = free_port()
    standin = start_standin(port, KEY)
    backend = f"http://127.0.0.1:{port}"
    reload = load_file("ccprov_reload", RELOAD)
    try:
        proc, gateway = start_gateway(
            tmp_path, backend, KEY, workers=2, extra_args=("--timeout_worker_healthcheck", "90")
        )
        try:
            assert "devstral-reloaded" not in models(gateway.url, gateway.master_key)
            old_workers = reload.workers(proc.pid)
            assert len(old_workers) == 2
            # The role rewrites config.yaml, then reloads: here a second model name.
            alias = {
                "model_name": "devstral-reloaded",
                "litellm_params": {
                    "model": "hosted_vllm/devstral",
                    "api_base": f"{backend}/v1",
                    "api_key": "os.environ/LITELLM_BACKEND_KEY_1",
                },
            }
            render_gateway_config(tmp_path, backend, {"litellm_gateway_extra_models": [alias]})
            python = ensure_litellm_venv() / "bin/python"
            row, done = during(
                "reload",
                lambda: subprocess.run(
                    [str(python), str(RELOAD), str(proc.pid), "100"],
                    capture_output=True,
                    text=True,
                    timeout=150,
                ),
                [gateway.url],
                gateway.master_key,
                None,
                sessions=3,
                before=2.0,
                after=2.0,
            )
            assert done.returncode == 0, done.stderr
            assert proc.poll() is None  # the same main process
            new_workers = reload.workers(proc.pid)
            assert len(new_workers) == 2 and not new_workers & old_workers
            assert "devstral-reloaded" in models(gateway.url, gateway.master_key)
            assert row.turns >= 6 and row.failed_raw == 0, row
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        standin.kill()
        standin.wait()


def test_reload_without_workers_says_so(tmp_path) -> None:
    """A main process with no uvicorn workers under it (one worker: no supervisor) cannot be
    reloaded that way: it says so and fails, and the role restarts instead."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        proc = subprocess.run(
            ["python3", str(RELOAD), str(sleeper.pid), "5"], capture_output=True, text=True
        )
        assert proc.returncode == 1
        assert "no uvicorn workers" in proc.stderr
        assert sleeper.poll() is None  # no SIGHUP sent
    finally:
        sleeper.kill()
        sleeper.wait()
