"""vLLM is closed by default: no --api-key only on loopback or on request (issue #17, 4a).

Runs the role's preflight on localhost (GPU checks off), as test_vllm_pins.py does.
"""

from __future__ import annotations

import pytest

from tests.unit.test_vllm_pins import COMMIT, preflight

EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 (the role's default bind, refused without a key)
REFUSAL = "vllm_server_api_key is empty but vllm_server_host is"


def test_no_key_on_every_address_is_refused(tmp_path) -> None:
    proc = preflight(
        tmp_path,
        vllm_server_model_revision=COMMIT,
        vllm_server_host=EVERY_ADDRESS,
        vllm_server_api_key="",
    )
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert f"{REFUSAL} {EVERY_ADDRESS} (not loopback)" in out
    assert "set vllm_server_api_key" in out and "vllm_server_allow_unauthenticated: true" in out


@pytest.mark.parametrize(
    "extra",
    [
        {"vllm_server_host": "127.0.0.1"},
        {"vllm_server_host": "::1"},
        {"vllm_server_host": "localhost"},
        {"vllm_server_host": EVERY_ADDRESS, "vllm_server_allow_unauthenticated": True},
        {"vllm_server_host": EVERY_ADDRESS, "vllm_server_api_key": "sk-" + "0" * 40},
    ],
)
def test_loopback_an_opt_out_or_a_key_passes(tmp_path, extra) -> None:
    no_key = {"vllm_server_api_key": "", **extra}  # the empty key unless the case gives one
    proc = preflight(tmp_path, vllm_server_model_revision=COMMIT, **no_key)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_address_without_allowed_clients_is_refused(tmp_path) -> None:
    """Issue #17, 4b: on a non-loopback bind, someone must say who may connect."""
    proc = preflight(tmp_path, vllm_server_model_revision=COMMIT, vllm_server_allowed_clients=[])
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "vllm_server_allowed_clients is empty: list the gateways' addresses" in out
    assert "vllm_server_firewall: none" in out


@pytest.mark.parametrize(
    "extra",
    [
        {"vllm_server_host": "127.0.0.1", "vllm_server_allowed_clients": []},
        {"vllm_server_firewall": "none", "vllm_server_allowed_clients": []},
        {"vllm_server_allowed_clients": ["10.0.0.2", "10.1.0.0/24"]},
    ],
)
def test_loopback_opt_out_or_a_client_list_passes(tmp_path, extra) -> None:
    proc = preflight(tmp_path, vllm_server_model_revision=COMMIT, **extra)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_a_client_name_that_does_not_resolve_is_refused(tmp_path) -> None:
    proc = preflight(
        tmp_path,
        vllm_server_model_revision=COMMIT,
        vllm_server_allowed_clients=["gw-nowhere.invalid"],
    )
    assert proc.returncode != 0
    assert "does not resolve on the GPU host" in " ".join(proc.stdout.split())
