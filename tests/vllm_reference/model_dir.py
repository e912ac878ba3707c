"""The model directory the reference backend serves: a real tekken tokenizer and a tiny
`config.json`, no weights (nothing is downloaded from a hub).

- `tekken.json`: a tekken vocabulary that mistral-common ships inside its wheel
  (`mistral_common/data/tekken_240911.json`, 150,000 ranks, vocabulary 131,072), with
  `config.version` set to Devstral 2's tokenizer version (v13 by default) and mistral-common's
  own `SpecialTokens` as the control tokens, ranks 0..N in the enum's order, as tekken files
  of v7 and later list them. Its `image` part is dropped: the served model is text-only
  (settle both assumptions on the first GPU host: `ccprov status` shows what the real
  checkpoint says).
- Mistral's own checkpoint layout, as Devstral 2's repository has it: `params.json` (a small
  Mistral-format config with Devstral 2's 262,144-token context, so vLLM's `ModelConfig` and
  its `--max-model-len` checks see the real window) and `consolidated.safetensors`, here a
  header naming one 1-element bf16 tensor and no real weights. vLLM picks the Mistral
  tokenizer and config format for a repository with `consolidated*.safetensors` beside
  `tekken.json` / `params.json` (vllm/tokenizers/registry.py `resolve_tokenizer_args`,
  vllm/transformers_utils/config.py `get_config`), so the same code paths run as on a host.

Run with the reference venv's Python, from the repository:
`python -m tests.vllm_reference.model_dir DIR [VERSION]`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.vllm_reference import standin_modules

MAX_POSITION_EMBEDDINGS = 262_144


def tekken(version: str) -> dict[str, object]:
    """The stand-in's tekken file (tests/standins/vllm/src/vllm/tekken.py): one definition,
    so the reference and the stand-in count in the same vocabulary."""
    content: dict[str, object] = standin_modules.load("tekken").tekken(version)
    return content


def params_json(vocab_size: int) -> dict[str, object]:
    """A Mistral-format config (params.json) for a tiny dense model: only its shape-free
    fields matter here (the context length, the vocabulary)."""
    return {
        "dim": 256,
        "n_layers": 2,
        "head_dim": 64,
        "hidden_dim": 512,
        "n_heads": 4,
        "n_kv_heads": 2,
        "norm_eps": 1e-05,
        "vocab_size": vocab_size,
        "rope_theta": 1000000.0,
        "max_position_embeddings": MAX_POSITION_EMBEDDINGS,
    }


def safetensors_header() -> bytes:
    """A valid safetensors file holding one bf16 scalar: the checkpoint's dtype, no weights."""
    header = json.dumps({"lm_head.weight": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}})
    raw = header.encode()
    return len(raw).to_bytes(8, "little") + raw + b"\x00\x00"


def make(directory: Path, version: str = "v13") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = tekken(version)
    (directory / "tekken.json").write_text(json.dumps(data))
    vocab_size = int(data["config"]["default_vocab_size"])  # type: ignore[index]
    (directory / "params.json").write_text(json.dumps(params_json(vocab_size), indent=1))
    (directory / "consolidated.safetensors").write_bytes(safetensors_header())
    return directory


if __name__ == "__main__":
    make(Path(sys.argv[1]), *(sys.argv[2:3] or ["v13"]))
