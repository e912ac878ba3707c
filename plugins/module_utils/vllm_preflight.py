"""GPU preflight for a vLLM host: parse nvidia-smi, judge the host, name the fix.

Standard library only; used by the vllm_preflight module on GPU hosts and unit-tested
over captured nvidia-smi outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The nvidia-smi query this module reads (CSV, no header, no units).
QUERY = "index,name,compute_cap,memory.total,memory.free,driver_version"
# Quantizations that need hardware FP8 (Ada, Hopper, Blackwell: compute capability >= 8.9).
FP8_QUANTIZATIONS = {"fp8", "fbgemm_fp8", "modelopt", "mxfp4"}
FP8_MIN_CC = (8, 9)


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    compute_cap: tuple[int, int]
    memory_total_mib: int
    memory_free_mib: int
    driver: str


def parse_gpus(csv_text: str) -> list[Gpu]:
    """Parse `nvidia-smi --query-gpu=<QUERY> --format=csv,noheader,nounits`."""
    gpus = []
    for line in csv_text.strip().splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 6:
            raise ValueError(f"unexpected nvidia-smi line: {line!r}")
        major, _, minor = fields[2].partition(".")
        gpus.append(
            Gpu(
                index=int(fields[0]),
                name=fields[1],
                compute_cap=(int(major), int(minor or 0)),
                memory_total_mib=int(float(fields[3])),
                memory_free_mib=int(float(fields[4])),
                driver=fields[5],
            )
        )
    return gpus


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def problems(
    gpus: list[Gpu],
    *,
    tensor_parallel_size: int,
    quantization: str | None,
    min_driver: str,
    weights_gib: float,
    free_disk_gib: float,
    gpu_memory_utilization: float,
    has_nvswitch: bool,
    fabric_manager_active: bool,
) -> list[str]:
    """Every reason this host cannot serve the model as configured, each naming the fix."""
    found = []
    if len(gpus) < tensor_parallel_size:
        found.append(
            f"{len(gpus)} GPU(s) visible but tensor_parallel_size is {tensor_parallel_size}: "
            f"use a host with {tensor_parallel_size} GPUs or lower vllm_server_tensor_parallel_size"
        )
    used = gpus[:tensor_parallel_size]
    if quantization in FP8_QUANTIZATIONS:
        weak = [g for g in used if g.compute_cap < FP8_MIN_CC]
        if weak:
            names = ", ".join(
                f"GPU {g.index} {g.name} (cc {g.compute_cap[0]}.{g.compute_cap[1]})" for g in weak
            )
            found.append(
                f"{quantization} needs compute capability >= 8.9 (Ada, Hopper, Blackwell); {names} "
                "cannot: use such GPUs or a non-FP8 checkpoint without --quantization"
            )
    if gpus and min_driver and version_tuple(gpus[0].driver) < version_tuple(min_driver):
        found.append(
            f"NVIDIA driver {gpus[0].driver} is older than {min_driver}, which the pinned"
            " vLLM's CUDA needs: upgrade the driver (e.g. the 570 or newer branch)"
        )
    if used:
        # Weights are split across the tensor-parallel GPUs; vLLM may use this share of each.
        per_gpu_gib = weights_gib / max(1, len(used))
        for g in used:
            usable = g.memory_free_mib / 1024 * gpu_memory_utilization
            if usable < per_gpu_gib * 1.05:
                found.append(
                    f"GPU {g.index} has {g.memory_free_mib / 1024:.0f} GiB free; its share of"
                    f" the weights needs about {per_gpu_gib:.0f} GiB (+ KV cache): free the GPU"
                    " (another process?) or use more GPUs"
                )
    if free_disk_gib < weights_gib * 1.1:
        found.append(
            f"{free_disk_gib:.0f} GiB free for the model cache, the weights need about "
            f"{weights_gib * 1.1:.0f} GiB: free disk or point vllm_server_hf_home elsewhere"
        )
    if has_nvswitch and not fabric_manager_active:
        found.append(
            "this host has NVSwitch but nvidia-fabricmanager is not active: install the "
            "fabric manager matching the driver and `systemctl enable --now nvidia-fabricmanager`"
        )
    return found
