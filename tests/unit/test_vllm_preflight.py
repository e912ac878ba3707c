"""GPU preflight over captured nvidia-smi outputs: each problem names its fix."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, load_file

pf = load_file("vllm_preflight", REPO / "plugins/module_utils/vllm_preflight.py")

B200_X2 = """0, NVIDIA B200, 10.0, 183359, 182500, 580.95.05
1, NVIDIA B200, 10.0, 183359, 182500, 580.95.05
"""
H100_X8 = "\n".join(f"{i}, NVIDIA H100 80GB HBM3, 9.0, 81559, 81000, 570.124.06" for i in range(8))
A100_X2 = """0, NVIDIA A100-SXM4-80GB, 8.0, 81920, 81000, 570.86.10
1, NVIDIA A100-SXM4-80GB, 8.0, 81920, 81000, 570.86.10
"""
ONE_B200 = "0, NVIDIA B200, 10.0, 183359, 182500, 580.95.05\n"
BUSY_B200 = """0, NVIDIA B200, 10.0, 183359, 20000, 580.95.05
1, NVIDIA B200, 10.0, 183359, 182500, 580.95.05
"""
OLD_DRIVER = B200_X2.replace("580.95.05", "550.54.15")

SEED = dict(
    tensor_parallel_size=2,
    quantization="fp8",
    min_driver="570.0",
    weights_gib=125,
    free_disk_gib=2000,
    gpu_memory_utilization=0.9,
    has_nvswitch=True,
    fabric_manager_active=True,
)


def check(csv: str, **overrides) -> list[str]:
    return pf.problems(pf.parse_gpus(csv), **{**SEED, **overrides})


def test_parse_b200() -> None:
    gpus = pf.parse_gpus(B200_X2)
    assert [g.name for g in gpus] == ["NVIDIA B200", "NVIDIA B200"]
    assert gpus[0].compute_cap == (10, 0) and gpus[0].memory_free_mib == 182500


def test_two_b200_pass_the_seed_configuration() -> None:
    assert check(B200_X2) == []


def test_h100_pass_with_fp8() -> None:
    assert check(H100_X8, has_nvswitch=False) == []


def test_one_gpu_for_tp2() -> None:
    (problem,) = check(ONE_B200)
    assert "1 GPU(s) visible but tensor_parallel_size is 2" in problem
    assert "lower vllm_server_tensor_parallel_size" in problem


def test_fp8_on_a100_is_refused() -> None:
    problems = check(A100_X2, weights_gib=100)
    assert any("fp8 needs compute capability >= 8.9" in p and "cc 8.0" in p for p in problems)
    assert check(A100_X2, quantization=None, weights_gib=100) == []


def test_old_driver() -> None:
    (problem,) = check(OLD_DRIVER)
    assert "driver 550.54.15 is older than 570.0" in problem and "upgrade the driver" in problem


def test_busy_gpu_memory() -> None:
    (problem,) = check(BUSY_B200)
    assert problem.startswith("GPU 0 has 20 GiB free")


def test_disk_too_small() -> None:
    (problem,) = check(B200_X2, free_disk_gib=80)
    assert "80 GiB free for the model cache" in problem and "vllm_server_hf_home" in problem


def test_nvswitch_without_fabric_manager() -> None:
    (problem,) = check(B200_X2, fabric_manager_active=False)
    assert "nvidia-fabricmanager is not active" in problem


def test_garbage_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="unexpected nvidia-smi line"):
        pf.parse_gpus("No devices were found")
