"""HTTP API of the vLLM stand-in: OpenAI chat completions and Anthropic messages, on CPU.

The "model" is canned (model.py); everything around it follows vLLM 0.33.0, read from its
wheel (file/function named at each piece): request validation, Mistral tokenizer request
checks (through mistral_common itself), streaming, tool-call parsing, error shapes, auth.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from vllm import anthropic, middleware, tekken
from vllm import model as canned
from vllm.errors import ApiError, vllm_validation_error
from vllm.prefix_cache import DEFAULT_CAPACITY_BLOCKS, Lookup, Prefill, PrefixCache

# Prefix-cache blocks per replica without --num-gpu-blocks-override (prefix_cache.py).
DEFAULT_CACHE_BLOCKS = int(os.environ.get("VLLM_STANDIN_CACHE_BLOCKS") or DEFAULT_CAPACITY_BLOCKS)


class Stats:
    def __init__(self, cache: PrefixCache | None = None, prefill: Prefill | None = None) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.requests = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.cache = cache or PrefixCache()
        self.prefill = prefill or Prefill()


def _value_error(message: str, param: str | None, value: Any = None) -> ApiError:
    """A VLLMValidationError raised in a model_validator of chat_completion/protocol.py
    (`check_tool_usage`, `validate_stream_options`): vLLM answers it as a 400
    BadRequestError "<message> (parameter=P)" with `param` P, not as pydantic's
    "1 validation error" text (checked against vLLM 0.33.0 itself)."""
    return vllm_validation_error(message, param, value)


# --- chat_completion/protocol.py: ChatCompletionRequest validators ------------------------
def validate_chat_request(body: dict[str, Any]) -> None:
    if not isinstance(body.get("messages"), list):
        shown = {
            "type": "missing",
            "loc": "body.messages",
            "msg": "Field required",
            "input": f"<dict of {len(body)} items>",
        }
        raise ApiError(
            400, f"1 validation error:\n  {shown}", "Bad Request", "body.messages", validation=True
        )
    if body.get("stream_options") and not body.get("stream"):
        raise _value_error(
            "Stream options can only be defined when `stream=True`.", "stream_options"
        )
    tools = body.get("tools")
    if tools == []:  # check_tool_usage
        raise _value_error(
            "`tools` must not be an empty array. Either provide at least one tool or omit "
            "the field entirely.",
            "tools",
        )
    for i, tool in enumerate(tools or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            shown = {
                "type": "missing",
                "loc": f"body.tools.{i}.function.name",
                "msg": "Field required",
            }
            raise ApiError(
                400,
                f"1 validation error:\n  {shown}",
                "Bad Request",
                f"body.tools.{i}",
                validation=True,
            )
    if "tool_choice" not in body and tools:
        body["tool_choice"] = "auto"
    choice = body.get("tool_choice")
    if choice is None or choice == "none":
        return
    if tools is None:
        raise _value_error("When using `tool_choice`, `tools` must be set.", "tool_choice")
    if choice not in ("auto", "required") and not isinstance(choice, dict):
        raise _value_error(
            f'Invalid value for `tool_choice`: {choice}! Only named tools, "none", "auto" '
            'or "required" are supported.',
            "tool_choice",
        )
    if isinstance(choice, dict):
        usage = 'Correct usage: `{"type": "function", "function": {"name": "my_function"}}`'
        function = choice.get("function")
        if not isinstance(function, dict):
            raise _value_error(
                f"Invalid value for `function`: `{function}` in `tool_choice`! {usage}",
                "tool_choice.function",
            )
        if "name" not in function:
            raise _value_error(
                f"Expected field `name` in `function` in `tool_choice`! {usage}",
                "tool_choice.function.name",
            )
        if not any(t["function"]["name"] == function["name"] for t in tools):
            raise _value_error(
                "The tool specified in `tool_choice` does not match any of the specified `tools`",
                "tool_choice",
            )


# --- renderers/online_renderer.py render_chat + tokenizers/mistral.py ---------------------
def _truncate_tool_call_ids(messages: list[dict[str, Any]]) -> None:
    """tokenizers/mistral.py: truncate_tool_call_ids (keep the last 9 characters)."""
    for message in messages:
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                if len(str(call.get("id", ""))) > 9:
                    call["id"] = call["id"][-9:]
        elif (
            message.get("role") in ("tool_results", "tool")
            and len(str(message.get("tool_call_id", ""))) > 9
        ):
            message["tool_call_id"] = message["tool_call_id"][-9:]


def _validate_request_params(req: dict[str, Any]) -> None:
    """tokenizers/mistral.py: validate_request_params, with mistral_common's ReasoningEffort
    (1.12.0: none, high); both raise VLLMValidationError."""
    from mistral_common.protocol.instruct.request import ReasoningEffort

    if req.get("chat_template") is not None or req.get("chat_template_kwargs") is not None:
        raise vllm_validation_error(
            "chat_template is not supported for Mistral tokenizers.", "chat_template"
        )
    effort = req.get("reasoning_effort")
    if effort and effort not in [e.value for e in ReasoningEffort]:
        raise vllm_validation_error(
            f"reasoning_effort={effort} is not supported by Mistral models. Supported values "
            f"are: {[e.value for e in ReasoningEffort]}.",
            "reasoning_effort",
        )


# Content parts that need vLLM's multimodal processor (renderers/chat_utils.py
# parse_chat_messages); Devstral 2 as served is text-only.
_MULTIMODAL_PARTS = ("image_url", "image_embeds", "image_pil", "input_audio", "audio_url")


def _check_text_only(config: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    """renderers/mistral.py render_messages -> parse_chat_messages: a media part asks
    multimodal/registry.py `create_processor`, which raises ValueError("{served model name}
    is not a multimodal model") for a text-only model: a 400 with no param, before
    mistral-common sees the request."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") in _MULTIMODAL_PARTS for part in content
        ):
            raise ApiError(400, f"{config['served_names'][0]} is not a multimodal model")


def render(config: dict[str, Any], req: dict[str, Any]) -> list[int]:
    """OnlineRenderer.render_chat for a Mistral tokenizer; returns the prompt's tekken
    token ids (tekken.py: mistral-common renders and encodes it, as in vLLM)."""
    messages = req["messages"]
    _truncate_tool_call_ids(messages)
    _validate_request_params(req)
    max_len = config["max_model_len"]
    out = req.get("max_completion_tokens", req.get("max_tokens"))
    if out is not None and out > max_len:  # renderers/params.py TokenizeParams.__post_init__
        param = "max_completion_tokens" if "max_completion_tokens" in req else "max_tokens"
        raise vllm_validation_error(
            f"{param}={out} cannot be greater than max_model_len={max_len}. "
            "Please request fewer output tokens.",
            param,
            out,
        )
    _check_text_only(config, messages)
    try:
        # renderers/mistral.py safe_apply_chat_template: mistral-common's exceptions (its
        # request validator, unknown chunk types, ...) become ValueError -> 400.
        prompt = tekken.encode_chat(messages, req.get("tools"))
    except Exception as exc:
        raise ApiError(400, str(exc)) from None
    n = len(prompt)
    if n > max_len:  # renderers/params.py TokenizeParams._token_len_check
        raise vllm_validation_error(
            f"This model's maximum context length is {max_len} tokens. However, your prompt "
            f"contains {n} input tokens, which exceeds this limit even without any output "
            "tokens. Please reduce the length of the input prompt.",
            "input_tokens",
            n,
        )
    return prompt


# --- the engine: canned tokens, max_tokens, stop strings ----------------------------------
@dataclass
class Token:
    kind: str  # text | call | name | sep | args | eos
    text: str  # what the detokenizer adds for it ("" for control tokens)
    call: int = -1
    id: int = -1  # the tekken token id


def _tokens(kind: str, ids: list[int], call: int = -1) -> list[Token]:
    return [Token(kind, text, call, i) for i, text in zip(ids, tekken.texts(ids), strict=True)]


@dataclass
class Generation:
    tokens: list[Token]
    finish: str  # engine finish reason: "stop" | "length"
    stop_reason: str | None
    error: ApiError | None = None
    error_after: int = 0  # tokens delivered before the error
    generated: int = 0  # tokens the engine generated (>= len(tokens) after a stop string)
    cache: Lookup | None = None  # the prefix cache's answer for the prompt (None: not run)

    def __post_init__(self) -> None:
        self.generated = max(self.generated, len(self.tokens))


def generate(config: dict[str, Any], req: dict[str, Any], prompt_len: int) -> Generation:
    keep_tools = _keeps_tool_calls(config, req)
    conversation = canned.from_openai(req["messages"], req.get("tools") or [])
    segments = canned.respond(conversation, req.get("tool_choice"), allow_tools=keep_tools)
    # The canned answer in tekken tokens, as the reference's scripted engine emits it
    # (tests/vllm_reference/engine.py answer_tokens): a text's own tokens; a tool call as
    # the model writes it from tokenizer v11 on, `[TOOL_CALLS]name[ARGS]{json}`; then `</s>`
    # (one more completion token, as vLLM counts it).
    tokens: list[Token] = []
    calls = -1
    for seg in segments:
        if seg.tool is None:
            tokens += _tokens("text", tekken.encode(seg.text))
            continue
        calls += 1
        tokens.append(Token("call", "", calls, tekken.special("[TOOL_CALLS]")))
        tokens += _tokens("name", tekken.encode(seg.tool), calls)
        tokens.append(Token("sep", "", calls, tekken.special("[ARGS]")))
        tokens += _tokens("args", tekken.encode(json.dumps(seg.args, ensure_ascii=False)), calls)
    tokens.append(Token("eos", "", -1, tekken.eos_id()))
    if req.get("thinking_token_budget") is not None and not config["reasoning_parser"]:
        # v1/engine/input_processor.py: refused when the request reaches the engine.
        error = ApiError(
            400,
            "thinking_token_budget is set but reasoning_config is not configured. Please set "
            "--reasoning-parser and/or --reasoning-config to use thinking_token_budget.",
        )
        return Generation([], "stop", None, error, 0)
    # serve/utils/api_utils.py get_max_tokens
    limit = config["max_model_len"] - prompt_len
    asked = req.get("max_completion_tokens", req.get("max_tokens"))
    if asked is not None:
        limit = min(limit, asked)
    stops = req.get("stop") or []
    if isinstance(stops, str):
        stops = [stops]
    out: list[Token] = []
    text = ""
    for token in tokens:
        if token.kind == "eos":
            out.append(token)
            return _maybe_error(conversation, Generation(out, "stop", None))
        hit = None
        for stop in stops:
            at = (text + token.text).find(stop)
            if stop and at >= 0 and (hit is None or at < hit[0]):
                hit = (at, stop)
        if hit is not None:
            # The stop string and what follows are not returned; vLLM's detokenizer holds
            # back a possible stop-string prefix, so nothing of it was streamed either.
            kept: list[Token] = []
            pos = 0
            for t in [*out, token]:
                if pos + len(t.text) > hit[0]:
                    if hit[0] > pos:
                        kept.append(Token(t.kind, t.text[: hit[0] - pos], t.call, t.id))
                    break
                kept.append(t)
                pos += len(t.text)
            gen = Generation(kept, "stop", hit[1], generated=len(out) + 1)
            return _maybe_error(conversation, gen)
        out.append(token)
        text += token.text
        if len(out) >= limit:
            return _maybe_error(conversation, Generation(out, "length", None))
    raise AssertionError("unreachable: the canned tokens end with eos")


def _maybe_error(conversation: canned.Conversation, gen: Generation) -> Generation:
    if (
        canned.MIDSTREAM_ERROR_TRIGGER in conversation.user_text
        and conversation.last_role == "user"
    ):
        gen.error = ApiError(500, "Internal server error", "InternalServerError")
        gen.error_after = min(3, len(gen.tokens))
    return gen


def _keeps_tool_calls(config: dict[str, Any], req: dict[str, Any]) -> bool:
    """chat_completion/message_assembly.py keeps_tool_calls."""
    choice = req.get("tool_choice")
    if choice == "required" or isinstance(choice, dict):
        return True
    return bool(
        config["tools_enabled"] and config["tool_parser"] and choice == "auto" and req.get("tools")
    )


def _resolve_finish_reason(engine: str, req: dict[str, Any], tool_calls_made: bool) -> str:
    """serve/utils/tool_calls_utils.py resolve_finish_reason."""
    named = isinstance(req.get("tool_choice"), dict)
    if tool_calls_made and engine == "stop" and not named:
        return "tool_calls"
    return engine


class _ArgsStream:
    """parser/engine/streaming_parser_engine.py `_feed_args_char` / `_flush_safe_args`:
    argument characters stream as they come, except a top-level closing brace or bracket,
    held back until a later character, the next call (TOOL_CALL_END) or the end of the
    output (`finish`) confirms it."""

    def __init__(self) -> None:
        self.buffer = ""
        self.safe_end = 0
        self.depth = 0
        self.in_string = False
        self.escape = False

    def feed(self, text: str) -> str:
        out = ""
        for ch in text:
            self.buffer += ch
            if self.escape:
                self.escape = False
            elif self.in_string:
                if ch == "\\":
                    self.escape = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.depth += 1
            elif ch in "}]":
                self.depth = max(0, self.depth - 1)
                if self.depth == 0:
                    continue  # held back: safe_end does not move
            self.safe_end = len(self.buffer)
            out += self.buffer[: self.safe_end]
            self.buffer, self.safe_end = self.buffer[self.safe_end :], 0
        return out

    def flush(self) -> str:
        out, self.buffer, self.safe_end = self.buffer, "", 0
        return out


def _deltas(gen: Generation, req: dict[str, Any], keep_tools: bool) -> list[dict[str, Any] | None]:
    """The Mistral parser's stream deltas (parser/mistral.py, parser/engine/parser_engine.py,
    streaming_parser_engine.py), one per token: content per text token; [TOOL_CALLS], name
    and [ARGS] tokens yield nothing; the first argument fragment opens the call (index,
    9-char id, type, name, fragment), each later one adds a fragment. The call's closing
    brace is held back (_ArgsStream): it arrives with the next [TOOL_CALLS] (as a fragment
    of the call it closes) or, for the last call, on the final chunk, the one that carries
    finish_reason (as vLLM 0.33.0 streams it). parallel_tool_calls=false keeps index 0 only
    (maybe_filter_parallel_tool_calls)."""
    deltas: list[dict[str, Any] | None] = []
    names: dict[int, str] = {}
    ids: dict[int, str] = {}
    streams: dict[int, _ArgsStream] = {}
    current = -1

    def fragment(call: int, text: str) -> dict[str, Any] | None:
        if not text or not keep_tools:
            return None
        if req.get("parallel_tool_calls") is False and call > 0:
            return None
        if call not in ids:
            ids[call] = canned.new_tool_id()
            opened = {
                "index": call,
                "id": ids[call],
                "type": "function",
                "function": {"name": names.get(call, ""), "arguments": text},
            }
            return {"tool_calls": [opened]}
        return {"tool_calls": [{"index": call, "function": {"arguments": text}}]}

    for n, token in enumerate(gen.tokens):
        delta: dict[str, Any] | None = None
        if token.kind == "text":
            delta = {"content": token.text} if token.text else None
        elif token.kind == "call":
            if current >= 0:  # TOOL_CALL_END of the previous call
                delta = fragment(current, streams[current].flush())
            current = token.call
            streams[current] = _ArgsStream()
        elif token.kind == "name":
            names[token.call] = names.get(token.call, "") + token.text
        elif token.kind == "args":
            delta = fragment(token.call, streams[token.call].feed(token.text))
        if n == len(gen.tokens) - 1 and current >= 0:  # finish(): flush what is held
            held = fragment(current, streams[current].flush())
            if held is None and current not in ids and keep_tools:
                # Cut off before the arguments (max_tokens): vLLM still opens the call on the
                # final chunk, with the name so far (even "") and no arguments (checked
                # against the reference: tests/vllm_reference/test_differential.py, chat-cut-*).
                ids[current] = canned.new_tool_id()
                held = {
                    "tool_calls": [
                        {
                            "index": current,
                            "id": ids[current],
                            "type": "function",
                            "function": {"name": names.get(current, ""), "arguments": ""},
                        }
                    ]
                }
            if held is not None:
                if delta is not None and "tool_calls" in delta:
                    delta["tool_calls"][0]["function"]["arguments"] += held["tool_calls"][0][
                        "function"
                    ]["arguments"]
                else:
                    delta = {**(delta or {}), **held}
        deltas.append(delta)
    return deltas


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }


def _prompt_tokens_details(config: dict[str, Any], gen: Generation) -> dict[str, Any] | None:
    """chat_completion/serving.py:95-113 _make_prompt_tokens_details: only with
    --enable-prompt-tokens-details (entrypoints/common/cli_args.py:156, default off); the
    engine's num_cached_tokens and num_cache_creation_tokens (0 when nothing was cached)."""
    if not config.get("prompt_tokens_details") or gen.cache is None:
        return None
    return {
        "cached_tokens": gen.cache.cached,
        "created_cache_tokens": gen.cache.created,
        "multimodal_tokens": None,
    }


def chat_chunks(
    config: dict[str, Any],
    req: dict[str, Any],
    gen: Generation,
    prompt_len: int,
    ident: str,
    model: str,
) -> Iterator[dict[str, Any] | ApiError]:
    """OpenAIServingChat.chat_completion_stream_generator_raw."""
    created = int(time.time())
    options = req.get("stream_options") or {}
    include_usage = bool(options.get("include_usage"))
    continuous = include_usage and bool(options.get("continuous_usage_stats"))
    keep_tools = _keeps_tool_calls(config, req)
    deltas = _deltas(gen, req, keep_tools)
    streamed_tools = False
    if gen.error is not None and gen.error_after == 0:
        yield gen.error
        return
    head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
    first: dict[str, Any] = {
        **head,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
        "prompt_token_ids": None,
        "prompt_text": None,
    }
    if continuous:
        first["usage"] = _usage(prompt_len, 0)
    yield first
    for i, delta in enumerate(deltas):
        if gen.error is not None and i == gen.error_after:
            yield gen.error
            return
        last = i == len(deltas) - 1
        if delta is not None and "tool_calls" in delta:
            streamed_tools = True
        if delta is None and not last:
            continue
        choice: dict[str, Any] = {
            "index": 0,
            "delta": delta or {},
            "logprobs": None,
            "finish_reason": None,
        }
        if last:
            choice["finish_reason"] = _resolve_finish_reason(gen.finish, req, streamed_tools)
            choice["stop_reason"] = gen.stop_reason
            choice["weight_versions"] = None
        choice["token_ids"] = None
        chunk: dict[str, Any] = {**head, "choices": [choice]}
        if last and not include_usage and config["system_fingerprint"] is not None:
            # chat_completion/serving.py:825-834: the terminal chunk carries the
            # fingerprint, unless a usage chunk follows (then that one does).
            chunk["system_fingerprint"] = config["system_fingerprint"]
        chunk["kv_transfer_params"] = None
        if continuous:
            chunk["usage"] = _usage(prompt_len, i + 1)
        yield chunk
    if include_usage:
        # serving.py:866-881: only the final usage chunk carries prompt_tokens_details; it
        # is serialized with exclude_none (no choices, serving.py:499-501).
        usage: dict[str, Any] = _usage(prompt_len, gen.generated)
        details = _prompt_tokens_details(config, gen)
        if details is not None:
            usage["prompt_tokens_details"] = {k: v for k, v in details.items() if v is not None}
        final = {**head, "choices": [], "usage": usage}
        if config["system_fingerprint"] is not None:
            final["system_fingerprint"] = config["system_fingerprint"]
        yield final


def chat_full(
    config: dict[str, Any],
    req: dict[str, Any],
    gen: Generation,
    prompt_len: int,
    ident: str,
    model: str,
) -> dict[str, Any]:
    """OpenAIServingChat.chat_completion_full_generator + assemble_chat_message_fields."""
    if gen.error is not None:
        raise gen.error
    keep_tools = _keeps_tool_calls(config, req)
    content = "".join(t.text for t in gen.tokens if t.kind == "text") or None
    calls: dict[int, dict[str, str]] = {}
    for token in gen.tokens:
        if token.kind in ("name", "args"):
            slot = calls.setdefault(token.call, {"name": "", "arguments": ""})
            slot["name" if token.kind == "name" else "arguments"] += token.text
    tool_calls = [
        {
            "id": canned.new_tool_id(),
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"] or "{}"},
        }
        for c in calls.values()
    ]
    if not keep_tools:
        tool_calls = []
    elif req.get("parallel_tool_calls") is False:
        tool_calls = tool_calls[:1]
    if keep_tools and (
        req.get("tool_choice") == "required" or isinstance(req.get("tool_choice"), dict)
    ):
        content = content or ""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
    }
    if tool_calls:  # vLLM 0.33.0 leaves the key out when there is no call
        message["tool_calls"] = tool_calls
    message["reasoning"] = None
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _resolve_finish_reason(gen.finish, req, bool(tool_calls)),
                "stop_reason": gen.stop_reason,
                "token_ids": None,
                "routed_experts": None,
                "weight_versions": None,
            }
        ],
        "service_tier": None,
        "system_fingerprint": config["system_fingerprint"],
        "usage": {
            **_usage(prompt_len, gen.generated),
            "prompt_tokens_details": _prompt_tokens_details(config, gen),
            "completion_tokens_details": None,
        },
        "prompt_logprobs": None,
        "prompt_token_ids": None,
        "prompt_text": None,
        "kv_transfer_params": None,
        "ec_transfer_params": None,
        "metrics": None,
    }


# A GPU's pace, which the stand-in has none of: seconds between streamed events, from this
# file (the site e2e's GPU hosts, read at each request: the unit passes no test settings) or
# VLLM_STANDIN_TOKEN_DELAY. Unset: as fast as it can write.
TOKEN_DELAY_FILE = "/etc/ccprov-standin-token-delay"


def token_delay() -> float:
    try:
        with open(TOKEN_DELAY_FILE) as f:
            return float(f.read().strip() or 0)
    except (OSError, ValueError):
        return float(os.environ.get("VLLM_STANDIN_TOKEN_DELAY") or 0)


def random_uuid() -> str:
    """vllm/utils/__init__.py random_uuid: 16 hex characters (request ids chatcmpl-...)."""
    return f"{uuid.uuid4().int & (2**64 - 1):016x}"


def system_fingerprint(config: dict[str, Any], mode: str, custom: str | None) -> str | None:
    """entrypoints/serve/utils/fingerprint.py build_system_fingerprint (--fingerprint-mode,
    default full): `vllm-<version>[-tpN][-ppN][-dpN][-ep]-<hash8>`. vLLM's hash8 is the
    first 8 hex digits of `vllm_config.compute_hash()`; the stand-in hashes its own
    configuration (model, parallelism, quantization, length) instead, so it is stable for a
    given command line like vLLM's, but not the same digits."""
    from vllm import __version__

    if mode == "none":
        return None
    if mode == "custom":
        return custom
    shape = {k: config.get(k) for k in ("model", "max_model_len", "parallel", "quantization")}
    hash8 = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:8]
    if mode == "hash":
        return f"vllm-{__version__}-{hash8}"
    parts = [f"vllm-{__version__}"]
    parallel = config.get("parallel") or {}
    for key, label in (("tp", "tp"), ("pp", "pp"), ("dp", "dp")):
        if int(parallel.get(key, 1)) > 1:
            parts.append(f"{label}{parallel[key]}")
    if parallel.get("ep"):
        parts.append("ep")
    parts.append(hash8)
    return "-".join(parts)


def make_handler(config: dict[str, Any], stats: Stats) -> type[BaseHTTPRequestHandler]:
    served = config["served_names"]
    started = time.time()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "vllm-standin"
        # Like uvicorn: TCP_NODELAY, so headers and body written apart are not held back
        # by Nagle against the client's delayed ACK (40 ms per request otherwise).
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args: Any) -> None:
            if config["log_requests"]:
                sys.stderr.write(f"INFO: {self.address_string()} {fmt % args}\n")

        # --- plumbing ------------------------------------------------------------------
        def parse_request(self) -> bool:
            """--middleware (middleware.py) sees every request first, whatever its method
            or path, as vLLM's ASGI middleware does before any route."""
            if not super().parse_request():
                return False
            chain = config.get("middleware_chain")
            if chain is None:
                return self._count()
            # The target as sent: http.server turns a leading `//` into `/`, uvicorn does not.
            target = self.requestline.split(" ")[1] if " " in self.requestline else self.path
            answer = middleware.run(chain, self.command, target, self.headers.items())
            if answer is None:
                return self._count()
            # Read the body anyway, so the next request on this connection parses.
            self.rfile.read(int(self.headers.get("content-length") or 0))
            status, headers, body = answer
            self.send_response(status)
            for name, value in headers:
                self.send_header(name.decode("latin-1"), value.decode("latin-1"))
            self.end_headers()
            self.wfile.write(body)
            return False

        def _count(self) -> bool:
            if self.command == "POST":
                with stats.lock:
                    stats.running += 1
                self._counted = True
            return True

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, frames: Iterator[str]) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            pace = token_delay()
            for text in frames:
                if pace:
                    time.sleep(pace)
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _authorized(self) -> bool:
            """serve/middleware/authenticate.py: Bearer only, on /v1 paths."""
            key = config["api_key"]
            if not key:
                return True
            scheme, _, param = self.headers.get("authorization", "").partition(" ")
            return scheme.lower() == "bearer" and param == key

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError as exc:
                shown = {"type": "json_invalid", "loc": "body", "msg": f"JSON decode error: {exc}"}
                raise ApiError(
                    400, f"1 validation error:\n  {shown}", "Bad Request", "body", validation=True
                ) from None
            if not isinstance(body, dict):
                shown = {
                    "type": "model_attributes_type",
                    "loc": "body",
                    "msg": "Input should be a valid dictionary",
                }
                raise ApiError(
                    400, f"1 validation error:\n  {shown}", "Bad Request", "body", validation=True
                )
            return body

        def _check_model(self, body: dict[str, Any]) -> str:
            name = body.get("model")
            if name is None:
                return served[0]
            if name not in served:
                raise ApiError(404, f"The model `{name}` does not exist.", "NotFoundError", "model")
            return str(name)

        # --- routes ------------------------------------------------------------------------
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/health":
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            if path == "/metrics":
                return self._metrics()
            if path.startswith("/v1") and not self._authorized():
                self.rfile.read(int(self.headers.get("content-length") or 0))
                return self._json(401, {"error": "Unauthorized"})
            if path == "/v1/models":
                created = int(time.time())
                return self._json(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {
                                "id": n,
                                "object": "model",
                                "created": created,
                                "owned_by": "vllm",
                                "root": config["model"],
                                "max_model_len": config["max_model_len"],
                            }
                            for n in served
                        ],
                    },
                )
            if path == "/version":
                from vllm import __version__

                return self._json(200, {"version": __version__})
            self._json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/v1") and not self._authorized():
                # Read the body anyway, so the next request on this connection parses.
                self.rfile.read(int(self.headers.get("content-length") or 0))
                return self._json(401, {"error": "Unauthorized"})
            anthropic_path = path.startswith("/v1/messages")
            try:
                body = self._body()
                dump = os.environ.get("VLLM_STANDIN_DUMP")
                if dump:  # debugging aid: every request body, one JSON per line
                    with open(dump, "a", encoding="utf-8") as handle:
                        seen = {"path": path, "body": body}
                        seen["authorization"] = self.headers.get("authorization", "")
                        handle.write(json.dumps(seen) + "\n")
                if path == "/v1/chat/completions":
                    return self._chat(body)
                if path == "/v1/messages":
                    return self._messages(body)
                if path == "/v1/messages/count_tokens":
                    return self._count_tokens(body)
                return self._json(404, {"detail": "Not Found"})
            except ApiError as exc:
                if anthropic_path and not exc.validation:
                    return self._json(exc.status, exc.anthropic_body())
                return self._json(exc.status, exc.openai_body())

        def _metrics(self) -> None:
            name = served[0]
            lines = [
                "# HELP vllm:num_requests_running Number of requests in model execution batches.",
                "# TYPE vllm:num_requests_running gauge",
                f'vllm:num_requests_running{{model_name="{name}"}} {stats.running}',
                "# HELP vllm:request_success_total Count of successfully processed requests.",
                "# TYPE vllm:request_success_total counter",
                f'vllm:request_success_total{{model_name="{name}"}} {stats.requests}',
                "# TYPE vllm:prompt_tokens_total counter",
                f'vllm:prompt_tokens_total{{model_name="{name}"}} {stats.prompt_tokens}',
                "# TYPE vllm:generation_tokens_total counter",
                f'vllm:generation_tokens_total{{model_name="{name}"}} {stats.generation_tokens}',
            ]
            # vLLM 0.33.0 v1/metrics/loggers.py:661-679: prometheus_client Counters named
            # vllm:prefix_cache_queries / vllm:prefix_cache_hits (in tokens), labels
            # ["model_name", "engine"] (loggers.py:499-504: the first served name, engine
            # "0"), incremented per scheduler step (loggers.py:1167-1172). prometheus_client
            # 0.26 exposes a Counter as NAME_total (+ NAME_created), labels sorted.
            labels = f'{{engine="0",model_name="{name}"}}'
            for metric, doc, value in (
                (
                    "vllm:prefix_cache_queries",
                    "Prefix cache queries, in terms of number of queried tokens.",
                    stats.cache.queries,
                ),
                (
                    "vllm:prefix_cache_hits",
                    "Prefix cache hits, in terms of number of cached tokens.",
                    stats.cache.hits,
                ),
            ):
                lines += [
                    f"# HELP {metric}_total {doc}",
                    f"# TYPE {metric}_total counter",
                    f"{metric}_total{labels} {float(value)}",
                    f"# HELP {metric}_created {doc}",
                    f"# TYPE {metric}_created gauge",
                    f"{metric}_created{labels} {started}",
                ]
            data = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain; version=0.0.4")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _account(self, prompt: int, gen: Generation) -> None:
            with stats.lock:
                stats.requests += 1
                stats.prompt_tokens += prompt
                stats.generation_tokens += gen.generated

        def _prepare(self, req: dict[str, Any]) -> tuple[str, int, Generation]:
            model_name = self._check_model(req)  # OpenAIServingChat.render_chat_request
            prompt = render(config, req)
            prompt_len = len(prompt)
            gen = generate(config, req, prompt_len)
            if gen.error is None or gen.error_after > 0:  # the engine admitted it
                gen.cache = stats.cache.lookup_and_insert(prompt)
            self._account(prompt_len, gen)
            return model_name, prompt_len, gen

        def _prefill(self, gen: Generation) -> None:
            """Wait the time to the first token: the uncached tokens' prefill."""
            if gen.cache is not None:
                stats.prefill.run(gen.cache.tokens - gen.cache.cached)

        # --- OpenAI chat completions -------------------------------------------------------
        def _chat(self, body: dict[str, Any]) -> None:
            validate_chat_request(body)
            model_name, prompt_len, gen = self._prepare(body)
            ident = f"chatcmpl-{random_uuid()}"
            if not body.get("stream"):
                self._prefill(gen)
                return self._json(200, chat_full(config, body, gen, prompt_len, ident, model_name))

            def frames() -> Iterator[str]:
                self._prefill(gen)  # headers first, the first chunk after the prefill
                for chunk in chat_chunks(config, body, gen, prompt_len, ident, model_name):
                    if isinstance(chunk, ApiError):
                        yield f"data: {json.dumps(chunk.openai_body())}\n\n"
                        break
                    yield f"data: {json.dumps(chunk)}\n\n"
                yield "data: [DONE]\n\n"

            self._stream(frames())

        # --- Anthropic messages ------------------------------------------------------------
        def _messages(self, body: dict[str, Any]) -> None:
            anthropic.validate_messages_request(body)
            req = anthropic.to_chat_completion_request(body)
            model_name, prompt_len, gen = self._prepare(req)
            ident = anthropic.new_message_id()
            if not body.get("stream"):
                self._prefill(gen)
                response = chat_full(config, req, gen, prompt_len, ident, model_name)
                try:
                    return self._json(200, anthropic.full_converter(response))
                except ValueError as exc:  # truncated tool arguments do not parse
                    raise ApiError(400, str(exc)) from None
            chunks = chat_chunks(config, req, gen, prompt_len, ident, model_name)

            def frames() -> Iterator[str]:
                self._prefill(gen)  # headers first, message_start after the prefill
                yield from anthropic.stream_converter(chunks)

            self._stream(frames())

        def _count_tokens(self, body: dict[str, Any]) -> None:
            """AnthropicServingMessages.count_tokens: the rendered prompt's length."""
            anthropic.validate_count_tokens_request(body)
            req = anthropic.to_chat_completion_request(body, count_tokens=True)
            self._check_model(req)
            n = len(render(config, req))
            self._json(200, {"input_tokens": n, "context_management": {"original_input_tokens": n}})

        def handle_one_request(self) -> None:
            # vllm:num_requests_running counts requests in the engine, not open connections
            # (a pooled keep-alive connection waiting here is idle): a POST that passed the
            # middleware counts until its answer is written (parse_request).
            self._counted = False
            try:
                super().handle_one_request()
            finally:
                if self._counted:
                    with stats.lock:
                        stats.running -= 1

    return Handler


def serve(
    *,
    host: str,
    port: int,
    model: str,
    served_names: list[str],
    api_key: str | None,
    tool_parser: str | None,
    tools_enabled: bool,
    reasoning_parser: str | None,
    max_model_len: int,
    log_requests: bool,
    prefix_caching: bool = True,
    block_size: int = 16,
    cache_blocks: int | None = None,
    prompt_tokens_details: bool = False,
    ssl_keyfile: str | None = None,
    ssl_certfile: str | None = None,
    parallel: dict[str, Any] | None = None,
    quantization: str | None = None,
    fingerprint_mode: str = "full",
    fingerprint_value: str | None = None,
    middleware_chain: Any = None,
    shutdown_timeout: int = 0,
) -> None:
    config = {
        "middleware_chain": middleware_chain,
        "model": model,
        "served_names": served_names,
        "api_key": api_key,
        "tool_parser": tool_parser,
        "tools_enabled": tools_enabled,
        "reasoning_parser": reasoning_parser,
        "max_model_len": max_model_len,
        "log_requests": log_requests,
        "prompt_tokens_details": prompt_tokens_details,
        "parallel": parallel or {},
        "quantization": quantization,
    }
    config["system_fingerprint"] = system_fingerprint(config, fingerprint_mode, fingerprint_value)
    cache = PrefixCache(
        cache_blocks or DEFAULT_CACHE_BLOCKS, block_size=block_size, enabled=prefix_caching
    )
    # vLLM (uvicorn) accepts bursts of connections; http.server's backlog of 5 would not.
    ThreadingHTTPServer.request_queue_size = 256
    stats = Stats(cache)
    httpd = ThreadingHTTPServer((host, port), make_handler(config, stats))
    httpd.daemon_threads = True
    scheme = "http"
    if ssl_certfile:
        # uvicorn's way: a server context with the certificate and key, TLS on every
        # accepted connection (a plain-HTTP client gets a failed handshake).
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(ssl_certfile, ssl_keyfile)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(
        f"INFO: vLLM stand-in serving {model} as {', '.join(served_names)} on "
        f"{scheme}://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        # vLLM 0.33.0 on SIGTERM (entrypoints/launchers/launcher.py serve_http, handle_shutdown;
        # v1/engine/core.py _handle_shutdown): --shutdown-timeout 0 aborts the requests in
        # flight; N > 0 lets them finish for up to N seconds, then the process ends. vLLM keeps
        # its socket open meanwhile and rejects new requests in the engine; the stand-in stops
        # listening instead (either way a new request fails and the gateway retries elsewhere).
        httpd.socket.close()
        deadline = time.monotonic() + shutdown_timeout
        while stats.running > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Past the deadline (or at once with 0) the request threads, daemons, end with us.
