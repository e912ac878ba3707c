"""The reference backend: vLLM 0.33.0's own API server, on this machine's CPU.

Run with the Python of a venv installed from the role's hash lock
(roles/vllm_server/files/requirements/vllm-0.33.0.txt; tests/vllm_reference/install.sh):

    python -m tests.vllm_reference.server MODEL_DIR -- serve MODEL [the role's flags...]

Everything a request meets is vLLM's code, as `vllm serve` builds it
(vllm/entrypoints/launchers/api_server/entry.py `build_and_serve`): the role's command line
parsed by vLLM's own parser (`make_arg_parser`, then `validate_parsed_serve_args`),
`build_app` (routers, exception handlers, the API-key middleware), `init_app_state` (chat and
Anthropic serving, the Mistral renderer and tokenizer through mistral-common, the Mistral
tool parser), and the real `AsyncLLM` (input and output processing). Only the engine core,
the part that needs a GPU and weights, is scripted (engine.py).

What differs from a GPU host, and why:
- MODEL (a hub id) is replaced by MODEL_DIR (model_dir.py: a tekken tokenizer shipped in
  mistral-common and a config.json): no weights may be downloaded here. `--revision`, which
  names a hub commit, is dropped with it.
- The platform is vLLM's CPU platform (`VLLM_TARGET_DEVICE=cpu`), and, as vLLM's own
  GPU-less render server does (vllm/entrypoints/launchers/render/entry.py), the model's
  quantization is cleared before the `VllmConfig` is built: fp8 kernels do not exist on a CPU.
- `--tensor-parallel-size` is parsed and checked, then set to 1 in the config: one process
  stands for the two GPUs.
- The role's key guard (`--middleware ccprov_vllm_guard.KeyGuard`) is imported from
  roles/vllm_server/files, where the unit's PYTHONPATH names the directory it is installed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

# Before vLLM is imported: no GPU, no hub, no usage reporting.
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

# Flags that name things on a GPU host's hub or disk, with how many values each takes.
_HOST_ONLY_FLAGS = {"--revision": 1}


def serve_argv(model_dir: Path, role_argv: list[str]) -> list[str]:
    """The role's `serve MODEL FLAGS...` with MODEL_DIR for the model and without the flags
    that only mean something on a GPU host."""
    if role_argv[:1] == ["serve"]:
        role_argv = role_argv[1:]
    if not role_argv or role_argv[0].startswith("-"):
        raise SystemExit("reference: the role's command line must start with [serve] MODEL")
    out = [str(model_dir)]
    rest = iter(role_argv[1:])
    for arg in rest:
        name = arg.split("=", 1)[0]
        if name in _HOST_ONLY_FLAGS:
            if "=" not in arg:
                for _ in range(_HOST_ONLY_FLAGS[name]):
                    next(rest, None)
            continue
        out.append(arg)
    return out


def parse(argv: list[str]):  # type: ignore[no-untyped-def]
    import vllm.platforms
    from vllm.entrypoints.common.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.platforms.cpu import CpuPlatform
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    vllm.platforms._current_platform = CpuPlatform()
    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    args = parser.parse_args(argv)
    args.model = args.model_tag  # vllm/entrypoints/cli/serve.py ServeSubcommand.cmd
    validate_parsed_serve_args(args)
    return args


def engine_config(args):  # type: ignore[no-untyped-def]
    from vllm import AsyncEngineArgs, envs
    from vllm.config import VllmConfig

    engine_args = AsyncEngineArgs.from_cli_args(args)
    model_config = engine_args.create_model_config()
    model_config.quantization = None  # as the render server does: no fp8 on a CPU
    envs.VLLM_CPU_KVCACHE_SPACE = 0
    return VllmConfig(
        model_config=model_config,
        logging_config=engine_args.create_logging_config(),
        structured_outputs_config=engine_args.create_structured_outputs_config(),
    )


def scripted_async_llm(vllm_config, args):  # type: ignore[no-untyped-def]
    """vLLM's AsyncLLM with the scripted core where its engine process would be."""
    from vllm.v1.engine import async_llm
    from vllm.v1.executor import Executor

    from tests.vllm_reference.engine import ScriptedEngineCore

    def make_client(*, vllm_config, renderer, **_kwargs):  # type: ignore[no-untyped-def]
        return ScriptedEngineCore(vllm_config, renderer)

    async_llm.EngineCoreClient.make_async_mp_client = staticmethod(make_client)  # type: ignore[method-assign]
    return async_llm.AsyncLLM(
        vllm_config=vllm_config,
        executor_class=Executor,
        log_stats=not args.disable_log_stats,
        log_requests=args.enable_log_requests,
    )


async def serve(args, vllm_config) -> None:  # type: ignore[no-untyped-def]
    from vllm.entrypoints.launchers.api_server.entry import build_and_serve
    from vllm.entrypoints.launchers.launcher import setup_server

    listen_address, sock = setup_server(args, reuse_port=False)
    engine = scripted_async_llm(vllm_config, args)
    try:
        shutdown = await build_and_serve(engine, listen_address, sock, args)
        await shutdown
    finally:
        sock.close()
        engine.shutdown()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv or argv.index("--") != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    model_dir, role_argv = Path(argv[0]), argv[2:]
    # The role's key guard (--middleware), importable as the unit's PYTHONPATH makes it.
    from tests.vllm_reference.key_sweep import GUARD_DIR

    sys.path.append(str(GUARD_DIR))
    if not (model_dir / "tekken.json").is_file():
        from tests.vllm_reference.model_dir import make

        make(model_dir, os.environ.get("CCPROV_REFERENCE_TOKENIZER_VERSION", "v13"))
    args = parse(serve_argv(model_dir, role_argv))
    vllm_config = engine_config(args)
    vllm_config.parallel_config.tensor_parallel_size = 1
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):  # SIGTERM: a clean stop
        uvloop.run(serve(args, vllm_config))
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    raise SystemExit(main())
