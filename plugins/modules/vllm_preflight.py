#!/usr/bin/python
"""Ansible module: GPU preflight for vLLM (GPUs, FP8 capability, driver, memory, disk, NVSwitch)."""

from __future__ import annotations

import glob
import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccprov.stack.plugins.module_utils.vllm_preflight import (
    QUERY,
    parse_gpus,
    problems,
)

DOCUMENTATION = r"""
---
module: vllm_preflight
short_description: Check a GPU host can serve a model with vLLM
description:
  - Reads nvidia-smi and the disk, and fails with one message per problem, each naming the
    fix. Changes nothing.
options:
  nvidia_smi: {description: nvidia-smi executable., type: str, default: nvidia-smi}
  tensor_parallel_size: {description: GPUs the model is split over., type: int, required: true}
  quantization: {description: The --quantization value (empty for none)., type: str, default: ""}
  min_driver: {description: Oldest acceptable NVIDIA driver., type: str, default: "570.0"}
  weights_gib: {description: Size of the weights in GiB., type: float, required: true}
  cache_dir: {description: Where the weights go (disk checked there)., type: path, required: true}
  gpu_memory_utilization: {description: Share of each GPU vLLM may use., type: float, default: 0.9}
"""

EXAMPLES = r"""
- name: Check the GPUs
  ccprov.stack.vllm_preflight:
    tensor_parallel_size: 2
    quantization: fp8
    weights_gib: 125
    cache_dir: /var/lib/vllm/hf
"""

RETURN = r"""
gpus:
  description: The GPUs found.
  type: list
  returned: always
"""


def _free_disk_gib(path: str) -> float:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    stats = os.statvfs(path or "/")
    return stats.f_bavail * stats.f_frsize / 1024**3


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "nvidia_smi": {"type": "str", "default": "nvidia-smi"},
            "tensor_parallel_size": {"type": "int", "required": True},
            "quantization": {"type": "str", "default": ""},
            "min_driver": {"type": "str", "default": "570.0"},
            "weights_gib": {"type": "float", "required": True},
            "cache_dir": {"type": "path", "required": True},
            "gpu_memory_utilization": {"type": "float", "default": 0.9},
        },
        supports_check_mode=True,
    )
    p = module.params
    smi = shutil.which(p["nvidia_smi"]) or (
        p["nvidia_smi"] if os.path.exists(p["nvidia_smi"]) else None
    )
    if not smi:
        module.fail_json(
            msg="nvidia-smi not found: install the NVIDIA driver on this GPU host, or set"
            " vllm_server_skip_gpu_checks=true for a host without GPUs (explicitly, never"
            " by default)"
        )
    rc, out, err = module.run_command(
        [smi, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"]
    )
    if rc != 0:
        module.fail_json(
            msg=f"nvidia-smi failed ({err.strip() or out.strip()}): is the NVIDIA driver loaded?"
        )
    try:
        gpus = parse_gpus(out)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    _rc, out_fm, _ = module.run_command(["systemctl", "is-active", "nvidia-fabricmanager"])
    found = problems(
        gpus,
        tensor_parallel_size=p["tensor_parallel_size"],
        quantization=p["quantization"] or None,
        min_driver=p["min_driver"],
        weights_gib=p["weights_gib"],
        free_disk_gib=_free_disk_gib(p["cache_dir"]),
        gpu_memory_utilization=p["gpu_memory_utilization"],
        has_nvswitch=bool(glob.glob("/dev/nvidia-nvswitch*")),
        fabric_manager_active=out_fm.strip() == "active",
    )
    listed = [
        {
            "index": g.index,
            "name": g.name,
            "compute_cap": f"{g.compute_cap[0]}.{g.compute_cap[1]}",
            "memory_free_mib": g.memory_free_mib,
            "driver": g.driver,
        }
        for g in gpus
    ]
    if found:
        module.fail_json(msg="GPU preflight: " + " | ".join(found), problems=found, gpus=listed)
    module.exit_json(changed=False, gpus=listed, problems=[])


if __name__ == "__main__":
    main()
