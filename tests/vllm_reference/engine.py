"""The one scripted part of the reference backend: vLLM's engine core (scheduler + model).

vLLM's `AsyncLLM` stays real: its `InputProcessor` (request checks, the structured-output
grammar the Mistral parser asks for), its `OutputProcessor` (detokenizing, stop strings,
`RequestOutput`s for the serving layer) and its output handler. Only
`EngineCoreClient.make_async_mp_client` (vllm/v1/engine/core_client.py), which would start
the GPU engine core in another process, returns `ScriptedEngineCore` instead. It answers
each request with the token ids of a canned answer in the served tokenizer: the text's own
tekken tokens, a tool call as the model writes it in tokenizer v11 and later
(`[TOOL_CALLS]name[ARGS]{json}`, real control-token ids), then `</s>`; one token per engine
step, as `EngineCoreOutput`s.

What a scripted core cannot do, and so does not:
- It does not sample under the request's grammar. With `--tool-call-parser mistral` and a
  tekken v11+ tokenizer, vLLM turns tool_choice into a lark grammar from mistral-common
  (vllm/parser/mistral.py adjust_request; mistral_common/guidance/data/
  base_grammar.lark.jinja) and a real model can only emit what it allows. The core reads the
  mode back from that grammar's `body:` rule (`tool_choice_from_grammar`) and picks a canned
  answer that fits it, but it does not run the grammar.
- No prefix cache, no KV blocks, no timing: `cached_tokens` are 0, and there is no queueing.
  The stand-in (tests/standins/vllm) models those.

The stop rules are vLLM 0.33.0's `check_stop` (vllm/v1/core/sched/utils.py): EOS, a stop
token id (its id becomes `stop_reason`), then `max_tokens` or the context length (LENGTH).
Stop *strings* are not the core's: the real OutputProcessor handles them.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from vllm.v1.engine import EngineCoreOutput, EngineCoreOutputs, EngineCoreRequest, FinishReason
from vllm.v1.engine.core_client import EngineCoreClient

from tests.vllm_reference import standin_modules

# The canned answers are the stand-in's (tests/standins/vllm/src/vllm/model.py).
canned = standin_modules.load("model")

# base_grammar.lark.jinja's `body:` rule per mode; `fcalls:` names the tools it allows.
_BODY = re.compile(r"^body: (.*)$", re.M)
_FCALLS = re.compile(r"^fcalls: (.*)$", re.M)
_SPECIAL = re.compile(r"(<s>|</s>|\[[A-Z_/]+\])")


@dataclass
class _Running:
    request: EngineCoreRequest
    tokens: deque[int]
    produced: int = 0


def tool_choice_from_grammar(params: Any) -> Any:
    """The tool_choice a grammar-constrained model obeys, from the grammar vLLM attached.
    mistral-common 1.12's templates (guidance/data/*.lark.jinja), with or without `think?`:
    none `body: content`; auto `content | (content? fcalls)` or `think? (content | fcalls)`;
    required, any or a named tool `content? fcalls`, `fcalls` or `think? fcalls`, a named
    one listing a single quoted tool name."""
    grammar = getattr(getattr(params, "structured_outputs", None), "grammar", None)
    body = _BODY.search(grammar or "")
    if body is None:
        return "auto"  # no grammar: the parser's legacy path leaves the model free
    rule = body.group(1).strip()
    if "fcalls" not in rule:
        return "none"
    if "|" in rule:  # content or calls: auto
        return "auto"
    fcalls = _FCALLS.search(grammar or "")
    # Each call: `<[TOOL_CALLS]> SAFE_WS? "name" <[ARGS]> SAFE_WS? %json {...}`; the name is
    # a quoted literal where the grammar fixes it (a named tool, or strict tools).
    names = set(re.findall(r'SAFE_WS\? "([^"]+)" ', fcalls.group(1) if fcalls else ""))
    if len(names) == 1:
        return {"type": "function", "function": {"name": names.pop()}}
    return "required"


def conversation(text: str) -> canned.Conversation:
    """The conversation the prompt holds, read back from its rendering with special tokens:
    `<s>[SYSTEM_PROMPT]..[/SYSTEM_PROMPT][AVAILABLE_TOOLS]json[/AVAILABLE_TOOLS][INST]..[/INST]
    answer[TOOL_CALLS]name[ARGS]{..}</s>[TOOL_RESULTS]..[/TOOL_RESULTS]`."""
    parts = [p for p in _SPECIAL.split(text) if p]
    tools: list[dict[str, Any]] = []
    users: list[str] = []
    results: list[str] = []
    last = "user"
    i = 0
    while i < len(parts):
        part = parts[i]
        body = parts[i + 1] if i + 1 < len(parts) else ""
        if part == "[AVAILABLE_TOOLS]" and not _SPECIAL.fullmatch(body):
            try:
                tools = [t.get("function", t) for t in json.loads(body)]
            except ValueError:
                tools = []
        elif part == "[INST]":
            users.append("" if _SPECIAL.fullmatch(body) else body)
            results, last = [], "user"
        elif part == "[TOOL_RESULTS]":
            results.append("" if _SPECIAL.fullmatch(body) else body)
            last = "tool"
        i += 1
    messages = [{"role": "user", "content": u} for u in users]
    return canned.Conversation(
        last_role=last,
        user_text=canned._users_words(messages),
        tool_results=results,
        tools=tools,
    )


class ScriptedEngineCore(EngineCoreClient):
    """Stands where AsyncMPClient would (the engine core in its own process)."""

    def __init__(self, vllm_config: Any, renderer: Any) -> None:
        self.max_model_len = vllm_config.model_config.max_model_len
        self.tokenizer = renderer.tokenizer
        self.engine_ranks_managed = [0]
        self.resources = type("Resources", (), {"engine_dead": False})()
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self.tool_calls_id = self.tokenizer.convert_tokens_to_ids("[TOOL_CALLS]")
        self.args_id = self.tokenizer.convert_tokens_to_ids("[ARGS]")
        self.eos_id = self.tokenizer.eos_token_id

    # --- The answer ----------------------------------------------------------------------
    def answer_tokens(self, request: EngineCoreRequest, tool_choice: Any) -> list[int]:
        prompt = self.tokenizer.decode(request.prompt_token_ids or [], skip_special_tokens=False)
        convo = conversation(prompt)
        segments = canned.respond(convo, tool_choice, allow_tools=bool(convo.tools))
        out: list[int] = []
        for segment in segments:
            if segment.tool:
                out += [self.tool_calls_id, *self._encode(segment.tool), self.args_id]
                out += self._encode(json.dumps(segment.args, ensure_ascii=False))
            else:
                out += self._encode(segment.text)
        return [*out, self.eos_id]

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    # --- The EngineCoreClient surface AsyncLLM uses ---------------------------------------
    async def add_request_async(self, request: EngineCoreRequest) -> None:
        tokens = self.answer_tokens(request, tool_choice_from_grammar(request.sampling_params))
        self._running[request.request_id] = _Running(request, deque(tokens))
        self._wake.set()

    async def get_output_async(self) -> EngineCoreOutputs:
        while not self._running:
            self._wake.clear()
            await self._wake.wait()
        await asyncio.sleep(0)  # one engine step: let the serving layer stream
        outputs = [self._step(r) for r in list(self._running.values())]
        return EngineCoreOutputs(outputs=outputs, finished_requests=None)

    def _step(self, run: _Running) -> EngineCoreOutput:
        params = run.request.sampling_params
        assert params is not None
        token = run.tokens.popleft() if run.tokens else self.eos_id
        run.produced += 1
        finish: FinishReason | None = None
        stop_reason: int | str | None = None
        # vllm/v1/core/sched/utils.py check_stop, in its order.
        if token == params.eos_token_id:
            finish = FinishReason.STOP
        elif token in (params.stop_token_ids or ()):
            finish, stop_reason = FinishReason.STOP, token
        elif len(
            run.request.prompt_token_ids or []
        ) + run.produced >= self.max_model_len or run.produced >= (params.max_tokens or 0):
            finish = FinishReason.LENGTH
        elif not run.tokens and params.eos_token_id is None:
            # ignore_eos: a real model would go on; the canned answer ends here.
            finish = FinishReason.LENGTH
        if finish is not None:
            self._running.pop(run.request.request_id, None)
        return EngineCoreOutput(
            request_id=run.request.request_id,
            new_token_ids=[token],
            finish_reason=finish,
            stop_reason=stop_reason,
        )

    async def abort_requests_async(self, request_ids: list[str]) -> None:
        for request_id in request_ids:
            self._running.pop(request_id, None)

    async def get_supported_tasks_async(self) -> tuple[str, ...]:
        return ("generate",)

    async def is_sleeping_async(self) -> bool:
        return False

    async def reset_mm_cache_async(self) -> None:
        return None

    async def reset_prefix_cache_async(self, *_args: Any, **_kwargs: Any) -> bool:
        return True

    async def is_scheduler_paused_async(self) -> bool:
        return False

    def get_kv_event_sources(self) -> dict[int, Any]:
        return {}

    def dp_engines_running(self) -> bool:
        return False

    def shutdown(self, timeout: float | None = None) -> None:
        self._running.clear()
