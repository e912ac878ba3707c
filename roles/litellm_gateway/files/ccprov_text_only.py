"""Content blocks a text-only model cannot take, replaced by a short text note (issue #27).

Claude Code sends `image` blocks (a pasted screenshot; its Read tool on a PNG, inside a
tool_result) and `tool_reference` blocks (its tool search, inside a tool_result). vLLM
0.33.0 refuses them for a text-only model: 400 `devstral is not a multimodal model`, 400
`'tool_reference' is not a valid ChunkTypes`, and `document` is not a block type it knows.
The block stays in the conversation, so every later turn of that session gets the same 400.

This LiteLLM callback (a CustomLogger, `litellm_settings.callbacks:
[ccprov_text_only.text_only_blocks]`, loaded from the config directory like
ccprov_usage.py) rewrites the request before routing, in async_pre_call_hook (LiteLLM
1.106.2 proxy/utils.py, ProxyLogging.pre_call_hook; /v1/messages runs it with call_type
`anthropic_messages` and `data` = the request body, Anthropic-shaped, before either backend
route translates or forwards it; /v1/chat/completions with `acompletion`, OpenAI-shaped).
Only for models whose deployments all carry `model_info.ccprov_text_only: true` (the role
sets it on its vLLM deployments when litellm_gateway_text_only is true). Only the blocks
are replaced; every other part of the request stays as it was.

The workstation's vibe proxy loads this file too (roles/workstation/tasks/vibe_proxy.yml
installs it next to ccprov_vibe.py), with the flag on Mistral's text-only coding models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # the unit tests, which run without LiteLLM
    _Base = object

FLAG = "ccprov_text_only"
# Anthropic blocks (user content and tool_result content) and OpenAI parts (chat).
NON_TEXT = {"image": "image", "document": "document", "image_url": "image"}


def note(block: dict[str, Any], model: str) -> str:
    """The text that stands in for BLOCK."""
    if block.get("type") == "tool_reference":
        return f"[tool reference: {block.get('tool_name') or block.get('name') or '?'}]"
    kind = NON_TEXT[block["type"]]
    return f"[{kind} omitted: the self-hosted model {model} reads text only]"


def _replace(content: Any, model: str, inside_result: bool) -> tuple[Any, int]:
    """CONTENT with its non-text blocks replaced (a new list only if one was), and how many."""
    if not isinstance(content, list):
        return content, 0
    out, count = [], 0
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in NON_TEXT or (kind == "tool_reference" and inside_result):
            out.append({"type": "text", "text": note(block, model)})
            count += 1
        elif kind == "tool_result" and not inside_result:
            inner, n = _replace(block.get("content"), model, True)
            out.append({**block, "content": inner} if n else block)
            count += n
        else:
            out.append(block)
    return (out if count else content), count


def rewrite_messages(messages: Any, model: str) -> tuple[Any, int]:
    """MESSAGES with the blocks a text-only MODEL cannot take replaced by text notes, and
    how many were. Messages without such blocks are the same objects; idempotent."""
    if not isinstance(messages, list):
        return messages, 0
    out, total = [], 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        new, count = _replace(content, model, False)
        out.append({**message, "content": new} if count else message)
        total += count
    return (out if total else messages), total


def is_text_only(model: Any) -> bool:
    """Whether every deployment of MODEL (the alias the client asked for) is text-only."""
    if not isinstance(model, str):
        return False
    try:
        from litellm.proxy.proxy_server import llm_router
    except ImportError:
        return False
    deployments = (llm_router.get_model_list(model_name=model) if llm_router else None) or []
    return bool(deployments) and all(
        (d.get("model_info") or {}).get(FLAG) is True for d in deployments
    )


class TextOnlyBlocks(_Base):  # type: ignore[misc]  # LiteLLM's CustomLogger (untyped here)
    """Rewrites data["messages"] before routing; see the module's docstring."""

    def __init__(self, text_only: Callable[[Any], bool] = is_text_only) -> None:
        if _Base is not object:
            super().__init__()
        self.text_only = text_only

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        model = data.get("model")
        if "messages" in data and self.text_only(model):
            data["messages"], _ = rewrite_messages(data["messages"], str(model))
        return data


text_only_blocks = TextOnlyBlocks()
"""The instance litellm_settings.callbacks names (ccprov_text_only.text_only_blocks)."""
