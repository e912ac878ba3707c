"""`vllm` command line of the stand-in: vLLM's `serve` flags, validated the same way."""

from __future__ import annotations

import argparse
import os
import sys

from vllm import __version__

BROKEN = False  # build-wheelhouse.sh --broken flips this: the server then fails at start


def _bool_pair(parser: argparse.ArgumentParser, name: str, default: bool) -> None:
    parser.add_argument(
        f"--{name}", dest=name.replace("-", "_"), action="store_true", default=default
    )
    parser.add_argument(f"--no-{name}", dest=name.replace("-", "_"), action="store_false")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vllm", description="vLLM CLI (ccprov test stand-in)")
    parser.add_argument(
        "-v", "--version", action="version", version=f"{__version__} (ccprov stand-in)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="Start the OpenAI/Anthropic-compatible API server")
    serve.add_argument("model_tag", nargs="?", default=None)
    serve.add_argument("--model", default=None)
    serve.add_argument("--served-model-name", nargs="+", default=None)
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=None)
    # HTTPS as vLLM 0.33 serves it (vllm/entrypoints/common/cli_args.py: ssl_keyfile,
    # ssl_certfile, handed to uvicorn).
    serve.add_argument("--ssl-keyfile", default=None)
    serve.add_argument("--ssl-certfile", default=None)
    serve.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    serve.add_argument("--pipeline-parallel-size", "-pp", type=int, default=1)
    serve.add_argument("--data-parallel-size", "-dp", type=int, default=1)
    serve.add_argument(
        "--quantization",
        "-q",
        default=None,
        choices=[
            "fp8",
            "awq",
            "gptq",
            "bitsandbytes",
            "modelopt",
            "compressed-tensors",
            "mxfp4",
            "gguf",
            "fbgemm_fp8",
        ],
    )
    serve.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "half", "float16", "bfloat16", "float", "float32"],
    )
    serve.add_argument(
        "--kv-cache-dtype", default="auto", choices=["auto", "fp8", "fp8_e4m3", "fp8_e5m2"]
    )
    serve.add_argument("--max-model-len", type=int, default=None)
    serve.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    serve.add_argument("--max-num-seqs", type=int, default=None)
    serve.add_argument("--max-num-batched-tokens", type=int, default=None)
    _bool_pair(serve, "enable-prefix-caching", True)
    # vLLM's cache flags (engine/arg_utils.py:1387, 1399): the stand-in's prefix cache uses
    # blocks of --block-size tokens and keeps --num-gpu-blocks-override of them.
    serve.add_argument("--block-size", type=int, default=None)
    serve.add_argument("--num-gpu-blocks-override", type=int, default=None)
    # entrypoints/common/cli_args.py:156: cached tokens in the responses' usage.
    serve.add_argument("--enable-prompt-tokens-details", action="store_true")
    # entrypoints/common/cli_args.py: the responses' system_fingerprint.
    serve.add_argument(
        "--fingerprint-mode", default="full", choices=["full", "hash", "custom", "none"]
    )
    serve.add_argument("--fingerprint-value", default=None)
    serve.add_argument("--enable-expert-parallel", "-ep", action="store_true")
    _bool_pair(serve, "enable-chunked-prefill", True)
    serve.add_argument("--tool-call-parser", default=None)
    serve.add_argument("--enable-auto-tool-choice", action="store_true")
    serve.add_argument("--chat-template", default=None)
    serve.add_argument(
        "--tokenizer-mode", default="auto", choices=["auto", "slow", "mistral", "custom"]
    )
    serve.add_argument("--config-format", default="auto", choices=["auto", "hf", "mistral"])
    serve.add_argument("--load-format", default="auto")
    serve.add_argument("--trust-remote-code", action="store_true")
    serve.add_argument("--download-dir", default=None)
    serve.add_argument("--revision", default=None)
    serve.add_argument("--tokenizer", default=None)
    serve.add_argument("--generation-config", default="auto")
    serve.add_argument("--seed", type=int, default=None)
    serve.add_argument("--swap-space", type=float, default=4)
    serve.add_argument("--enforce-eager", action="store_true")
    serve.add_argument("--disable-log-requests", action="store_true")
    serve.add_argument("--disable-log-stats", action="store_true")
    serve.add_argument("--enable-log-requests", action="store_true")
    serve.add_argument(
        "--uvicorn-log-level",
        default="info",
        choices=["debug", "info", "warning", "error", "critical", "trace"],
    )
    serve.add_argument("--root-path", default=None)
    serve.add_argument("--limit-mm-per-prompt", default=None)
    serve.add_argument("--compilation-config", "-O", default=None)
    serve.add_argument("--reasoning-parser", default=None)
    # entrypoints/common/cli_args.py: import paths of ASGI middleware, repeatable (middleware.py).
    serve.add_argument("--middleware", action="append", type=str, default=[])
    # engine/arg_utils.py: seconds to drain requests in flight after SIGTERM; 0 aborts them.
    serve.add_argument("--shutdown-timeout", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "serve":
        return 2
    model = args.model or args.model_tag
    if not model:
        print("vllm serve: error: a model is required", file=sys.stderr)
        return 2
    if BROKEN or os.environ.get("VLLM_STANDIN_FAIL_START") == "1":
        print("vllm (stand-in, broken build): failed to start engine", file=sys.stderr)
        return 1
    # Fail at start, like vLLM, when its tokenizer library is missing.
    import mistral_common.protocol.instruct.validator  # noqa: F401

    from vllm import middleware
    from vllm.server import serve

    # Imported and built at start, as vLLM's build_app does: a bad path stops it here.
    chain = middleware.build(middleware.load(args.middleware)) if args.middleware else None

    names = args.served_model_name or [model]
    api_key = args.api_key or os.environ.get("VLLM_API_KEY") or None
    serve(
        host=args.host or "0.0.0.0",  # noqa: S104 (vLLM binds all interfaces by default)
        port=args.port,
        model=model,
        served_names=names,
        api_key=api_key,
        tool_parser=args.tool_call_parser,
        tools_enabled=args.enable_auto_tool_choice,
        reasoning_parser=args.reasoning_parser,
        # The stand-in "loads" Devstral 2, whose config says 262144 (256K) tokens.
        max_model_len=args.max_model_len or 262144,
        log_requests=not args.disable_log_requests,
        prefix_caching=args.enable_prefix_caching,
        block_size=args.block_size or 16,
        cache_blocks=args.num_gpu_blocks_override,
        prompt_tokens_details=args.enable_prompt_tokens_details,
        ssl_keyfile=args.ssl_keyfile,
        ssl_certfile=args.ssl_certfile,
        parallel={
            "tp": args.tensor_parallel_size,
            "pp": args.pipeline_parallel_size,
            "dp": args.data_parallel_size,
            "ep": args.enable_expert_parallel,
        },
        quantization=args.quantization,
        fingerprint_mode=args.fingerprint_mode,
        fingerprint_value=args.fingerprint_value,
        middleware_chain=chain,
        shutdown_timeout=args.shutdown_timeout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
