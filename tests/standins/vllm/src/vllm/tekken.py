"""The stand-in's tokenizer: Mistral's tekken through mistral-common, as vLLM serves it.

Every count the stand-in reports (prompt tokens, completion tokens, `max_tokens`, the context
length check, count_tokens, the prefix cache's blocks) is in these tokens:
- the vocabulary is the tekken file mistral-common ships in its wheel
  (`mistral_common/data/tekken_240911.json`), configured exactly like the reference
  backend's model directory, which writes this module's `tekken()` (tests/vllm_reference/
  model_dir.py: version v13, mistral-common's `SpecialTokens` as control tokens ranks 0..N,
  no `image` part);
- a chat request is rendered the way vLLM 0.33.0 renders it for a Mistral tokenizer:
  vllm/tokenizers/mistral.py `MistralTokenizer.apply_chat_template` ->
  transformers/tokenization_mistral_common.py `MistralCommonBackend.apply_chat_template`
  -> mistral_common `ChatCompletionRequest.from_openai(messages, tools,
  continue_final_message=False)` (`reasoning_effort` only from tokenizer v15 on) ->
  `MistralTokenizer.encode_chat_completion` (validator in `ValidationMode.test`, as
  `MistralTokenizer.from_pretrained` asks). So count_tokens equals vLLM's exactly.

The 19 MB vocabulary is read once per process, on first use (a server that is only started
and stopped never reads it): about 1-2 s on a test machine.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

VOCAB_FILE = "tekken_240911.json"
# Devstral 2's tekken version; settable for tests of other versions.
VERSION = os.environ.get("VLLM_STANDIN_TOKENIZER_VERSION", "v13")

_lock = threading.Lock()
_tokenizers: dict[str, MistralTokenizer] = {}


def tekken(version: str) -> dict[str, Any]:
    """The tekken file's content; the reference backend's model directory is written from
    it too (tests/vllm_reference/model_dir.py), so both count in one vocabulary."""
    import mistral_common
    from mistral_common.tokens.tokenizers.base import SpecialTokens

    data = json.loads((Path(mistral_common.__file__).parent / "data" / VOCAB_FILE).read_text())
    config = dict(data["config"])
    config["version"] = version
    specials = [
        {"rank": rank, "token_str": token.value, "is_control": True}
        for rank, token in enumerate(SpecialTokens)
    ]
    if len(specials) > int(config["default_num_special_tokens"]):
        raise SystemExit(f"{len(specials)} special tokens do not fit the vocabulary's slots")
    return {"config": config, "vocab": data["vocab"], "special_tokens": specials}


def _build(version: str) -> MistralTokenizer:
    """mistral_common's `MistralTokenizer.from_file` for a tekken file without image or
    audio parts, fed from `tekken()` instead of a file on disk."""
    from mistral_common.protocol.instruct.normalize import get_normalizer
    from mistral_common.protocol.instruct.validator import ValidationMode, get_validator
    from mistral_common.tokens.tokenizers import instruct
    from mistral_common.tokens.tokenizers.base import TokenizerVersion
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    data = tekken(version)
    config = data["config"]
    tokenizer_version = TokenizerVersion(version)
    tekkenizer = Tekkenizer(
        vocab=data["vocab"],
        special_tokens=data["special_tokens"],
        pattern=config["pattern"],
        vocab_size=config["default_vocab_size"],
        num_special_tokens=config["default_num_special_tokens"],
        version=tokenizer_version,
        name="tekken",
    )
    instruct_class = getattr(instruct, f"InstructTokenizer{version.upper()}")
    return MistralTokenizer(
        instruct_class(tekkenizer),
        validator=get_validator(tokenizer_version, mode=ValidationMode.test),
        request_normalizer=get_normalizer(tokenizer_version, None),
    )


def mistral_tokenizer(version: str | None = None) -> MistralTokenizer:
    """The process's tokenizer for VERSION (default: VERSION), built on first use."""
    version = version or VERSION
    with _lock:
        if version not in _tokenizers:
            _tokenizers[version] = _build(version)
        return _tokenizers[version]


def tekkenizer() -> Tekkenizer:
    raw: Tekkenizer = mistral_tokenizer().instruct_tokenizer.tokenizer  # type: ignore[assignment]
    return raw


def encode_chat(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
    """The prompt's token ids, as vLLM's Mistral renderer produces them. Raises what
    mistral-common raises (the caller turns it into a 400, like vllm/renderers/mistral.py
    `safe_apply_chat_template`)."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    tokenizer = mistral_tokenizer()
    request = ChatCompletionRequest.from_openai(
        messages=messages, tools=tools, continue_final_message=False
    )
    return list(tokenizer.encode_chat_completion(request).tokens)


def encode(text: str) -> list[int]:
    """Plain text, no BOS/EOS: what the reference's scripted engine emits for a canned text
    (tests/vllm_reference/engine.py `_encode`, `tokenizer.encode(add_special_tokens=False)`)."""
    return list(tekkenizer().encode(text, bos=False, eos=False))


def special(token: str) -> int:
    """A control token's id (`[TOOL_CALLS]`, `[ARGS]`, `</s>`, ...)."""
    return int(tekkenizer().get_special_token(token))


def eos_id() -> int:
    return int(tekkenizer().eos_id)


def token_bytes(token_id: int) -> bytes:
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

    return bytes(tekkenizer().id_to_byte_piece(token_id, SpecialTokenPolicy.KEEP))


def texts(ids: list[int]) -> list[str]:
    """Each token's text as an incremental detokenizer streams it: bytes that do not yet
    form whole UTF-8 characters are held back until a later token completes them (vLLM's
    detokenizer does not emit half a character either)."""
    out: list[str] = []
    pending = b""
    for token_id in ids:
        pending += token_bytes(token_id)
        text = ""
        for end in range(len(pending), max(len(pending) - 4, -1), -1):
            try:
                text = pending[:end].decode("utf-8")
            except UnicodeDecodeError:
                continue
            pending = pending[end:]
            break
        out.append(text)
    return out
