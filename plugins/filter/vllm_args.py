"""Build `vllm serve`'s command line from inventory variables."""

from __future__ import annotations

import shlex
from typing import Any

from ansible.errors import AnsibleFilterError


def vllm_serve_args(cfg: dict[str, Any]) -> list[str]:
    """The argv after `vllm`, in a stable order. The API key is not here: vLLM reads it
    from VLLM_API_KEY in the unit's private environment file, so it never shows in `ps`."""
    model = str(cfg.get("model") or "")
    if not model:
        raise AnsibleFilterError("vllm_server_model is empty")
    args = ["serve", model]
    if cfg.get("served_model_name"):
        args += ["--served-model-name", str(cfg["served_model_name"])]
    if cfg.get("tool_call_parser"):
        args += ["--tool-call-parser", str(cfg["tool_call_parser"])]
    if cfg.get("enable_auto_tool_choice"):
        args.append("--enable-auto-tool-choice")
    tp = int(cfg.get("tensor_parallel_size", 1))
    if tp < 1:
        raise AnsibleFilterError("vllm_server_tensor_parallel_size must be >= 1")
    args += ["--tensor-parallel-size", str(tp)]
    if cfg.get("quantization"):
        args += ["--quantization", str(cfg["quantization"])]
    for key, flag in (
        ("tokenizer_mode", "--tokenizer-mode"),
        ("config_format", "--config-format"),
        ("load_format", "--load-format"),
        ("revision", "--revision"),
        ("max_model_len", "--max-model-len"),
        ("gpu_memory_utilization", "--gpu-memory-utilization"),
        ("max_num_seqs", "--max-num-seqs"),
        ("host", "--host"),
        ("port", "--port"),
        ("ssl_keyfile", "--ssl-keyfile"),
        ("ssl_certfile", "--ssl-certfile"),
        ("shutdown_timeout", "--shutdown-timeout"),
    ):
        value = cfg.get(key)
        if value not in (None, "", 0):
            args += [flag, str(value)]
    if "enable_prefix_caching" in cfg and cfg["enable_prefix_caching"] is not None:
        args.append(
            "--enable-prefix-caching"
            if cfg["enable_prefix_caching"]
            else "--no-enable-prefix-caching"
        )
    if cfg.get("enable_prompt_tokens_details"):
        # Cached prompt tokens in each response's usage (vLLM 0.33: off by default): what the
        # gateway's usage log and `ccprov usage` count as the cache share.
        args.append("--enable-prompt-tokens-details")
    extra = cfg.get("extra_args") or []
    if isinstance(extra, str):
        extra = shlex.split(extra)
    if any(str(a).startswith("--api-key") for a in extra):
        raise AnsibleFilterError(
            "put the API key in vllm_server_api_key (vault), not in extra args"
        )
    return args + [str(a) for a in extra]


def vllm_exec_start(args: list[str], binary: str) -> str:
    """A systemd ExecStart= value (each argument quoted for systemd)."""
    return " ".join([binary] + [_systemd_quote(a) for a in args])


def _systemd_quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "-_./:=,@+" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"vllm_serve_args": vllm_serve_args, "vllm_exec_start": vllm_exec_start}
