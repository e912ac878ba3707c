"""vLLM (the stand-in wheel, installed the real way) as a hardened, health-gated service."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.playbook import play

KEY = "sk-gpu-molecule-0123456789abcdef0123"
# The release converge.yml installs: the one the role pins.
DEFAULTS = Path(__file__).resolve().parents[3] / "defaults/main.yml"
PINNED = yaml.safe_load(DEFAULTS.read_text())["vllm_server_version"]
SEED = (
    "serve mistralai/Devstral-2-123B-Instruct-2512 --served-model-name devstral "
    "--tool-call-parser mistral --enable-auto-tool-choice --tensor-parallel-size 2 "
    "--quantization fp8"
)


def test_unit_active_with_the_seed_flags(host) -> None:
    assert host.service("vllm").is_running and host.service("vllm").is_enabled
    unit = host.file("/etc/systemd/system/vllm.service").content_string
    assert f"ExecStart=/opt/vllm/current/bin/vllm {SEED} " in unit
    assert KEY not in unit
    for setting in (
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "HF_HUB_OFFLINE=1",
        "TimeoutStartSec=1800",
    ):
        assert setting in unit
    assert KEY not in host.check_output("ps -eo args")


def test_versioned_venv_and_current_link(host) -> None:
    assert host.file("/opt/vllm/current").linked_to == f"/opt/vllm/{PINNED}"
    assert host.file(f"/opt/vllm/{PINNED}/bin/vllm").is_file
    assert PINNED in host.check_output("/opt/vllm/current/bin/vllm --version")


def test_api_key_only_in_the_private_env_file(host) -> None:
    env = host.file("/etc/vllm/vllm.env")
    assert env.mode == 0o600 and env.user == "root" and KEY in env.content_string


def test_serves_the_model_only_with_the_key(host) -> None:
    assert '"devstral"' in host.check_output(
        f"curl -sf http://127.0.0.1:8000/v1/models -H 'Authorization: Bearer {KEY}'"
    )
    code = host.check_output(
        "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/v1/models"
    )
    assert code == "401"
    assert "vllm:num_requests_running" in host.check_output(
        "curl -sf http://127.0.0.1:8000/metrics"
    )


def test_every_other_path_needs_the_key(host) -> None:
    """Issue #28: vLLM's own key check covers /v1 only; the role's guard (--middleware, from
    the root-owned directory on the unit's PYTHONPATH) covers the rest."""
    unit = host.file("/etc/systemd/system/vllm.service").content_string
    assert "--middleware ccprov_vllm_guard.KeyGuard" in unit
    assert "Environment=PYTHONPATH=/usr/local/lib/ccprov/vllm" in unit
    guard = host.file("/usr/local/lib/ccprov/vllm/ccprov_vllm_guard.py")
    assert (guard.user, guard.group, guard.mode) == ("root", "root", 0o644)
    for method, path in (("POST", "/invocations"), ("GET", "/version"), ("POST", "/tokenize")):
        code = host.check_output(
            f"curl -s -o /dev/null -w '%{{http_code}}' -X {method} http://127.0.0.1:8000{path}"
        )
        assert code == "401", (method, path)
    assert (
        host.check_output(
            "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/version"
            f" -H 'Authorization: Bearer {KEY}'"
        )
        == "200"
    )
    assert (
        host.check_output("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health")
        == "200"
    )


@pytest.mark.parametrize(
    ("gpus", "message"),
    [
        (
            "0, NVIDIA B200, 10.0, 183359, 182500, 580.95.05\n",
            "1 GPU(s) visible but tensor_parallel_size is 2",
        ),
        (
            "0, NVIDIA A100-SXM4-80GB, 8.0, 81920, 81000, 570.86.10\n"
            "1, NVIDIA A100-SXM4-80GB, 8.0, 81920, 81000, 570.86.10\n",
            "fp8 needs compute capability >= 8.9",
        ),
    ],
)
def test_preflight_refuses_unfit_gpus(host, gpus, message) -> None:
    host.run(f"printf '{gpus}' > /etc/ccprov-standin-gpus.csv")
    try:
        proc = play("-e", "vllm_server_preflight_only=true")
    finally:
        host.run("rm -f /etc/ccprov-standin-gpus.csv")
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_failed_upgrade_rolls_back_and_keeps_serving(host) -> None:
    proc = play("-e", "standin_version=0.33.1", "-e", "vllm_server_health_timeout=20")
    assert proc.returncode != 0
    output = " ".join((proc.stdout + proc.stderr).split())
    assert "vLLM 0.33.1 did not serve devstral" in output
    assert f"Rolled back to {PINNED}, which is serving again" in output
    assert host.file("/opt/vllm/current").linked_to == f"/opt/vllm/{PINNED}"
    assert host.service("vllm").is_running
    assert '"devstral"' in host.check_output(
        f"curl -sf http://127.0.0.1:8000/v1/models -H 'Authorization: Bearer {KEY}'"
    )


def test_only_the_allowed_clients_reach_the_port(host) -> None:
    """The controller is the allowed client here: it is served; the allowlist refuses every
    other source before vLLM sees it (the site e2e tries from a workstation)."""
    import json
    import urllib.request

    request = urllib.request.Request(
        "http://10.88.200.10:8000/v1/models", headers={"Authorization": f"Bearer {KEY}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (fixed http URL)
        assert json.load(response)["data"][0]["id"] == "devstral"
    rules = host.check_output("nft list table inet ccprov_vllm_ingress")
    assert "tcp dport != 8000 accept" in rules
    assert "ip saddr 10.88.0.1 accept" in rules
    assert "reject with tcp reset" in rules
    unit = host.file("/etc/systemd/system/vllm.service").content_string
    assert "Requires=ccprov-vllm-ingress.service" in unit
    assert "IPAddressAllow=localhost 10.88.0.1/32" in unit
