"""Two Anthropic Messages fields a backend route loses, restored (issue #30 item 3).

- `tool_choice.disable_parallel_tool_use` (one tool call per turn). On the chat_completions
  route LiteLLM 1.106.2 maps `tool_choice` by its `type` alone
  (llms/anthropic/pass_through/adapters/transformation.py:764-780) and the flag is lost, so
  vLLM makes parallel calls. LiteLLM copies a top-level `parallel_tool_calls` into the chat
  request as it is, and vLLM's chat endpoint honours `parallel_tool_calls: false`; vLLM's own
  /v1/messages (the messages route) ignores the extra field and maps the flag itself
  (entrypoints/anthropic/serving.py). So the hook adds `parallel_tool_calls: false` whenever
  the flag is set.
- `stop_sequence` in a non-streamed Message. vLLM 0.33.0 serialises it with exclude_none, so
  a reply that did not stop on a sequence has no `stop_sequence` key at all
  (vllm-project/vllm#56371); SDKs that validate the reply refuse that (ogx-ai/ogx#5521). On
  the messages route the body passes through; the hook adds `"stop_sequence": null`.

This LiteLLM callback (a CustomLogger, `litellm_settings.callbacks:
[ccprov_anthropic_fields.anthropic_fields]`, loaded from the config directory like
ccprov_output_cap.py) works in async_pre_call_hook (LiteLLM 1.106.2 proxy/utils.py,
ProxyLogging.pre_call_hook: /v1/messages with the Anthropic body) and
async_post_call_success_hook (its return value replaces the reply: proxy/utils.py
post_call_success_hook; on the messages route with the backend's JSON body as a dict,
proxy/common_request_processing.py _handle_non_streaming_allm_passthrough_route). Anything
else passes unchanged. What LiteLLM cannot give back on the chat route, which stop sequence
ended a reply (transformation.py:1433-1443 maps every `stop` to end_turn), is not invented.
"""

from __future__ import annotations

from typing import Any

try:
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # the unit tests, which run without LiteLLM
    _Base = object


def with_parallel_flag(data: dict[str, Any]) -> dict[str, Any]:
    """DATA (an Anthropic Messages body) with `parallel_tool_calls: false` when its
    tool_choice disables parallel tool use and the body does not say otherwise."""
    choice = data.get("tool_choice")
    if (
        isinstance(choice, dict)
        and choice.get("disable_parallel_tool_use") is True
        and "parallel_tool_calls" not in data
    ):
        data["parallel_tool_calls"] = False
    return data


def with_stop_sequence(response: Any) -> Any:
    """RESPONSE with `stop_sequence: null` after `stop_reason` if it is a non-streamed
    Anthropic Message without one; anything else as it is."""
    if (
        not isinstance(response, dict)
        or response.get("type") != "message"
        or "stop_sequence" in response
    ):
        return response
    out: dict[str, Any] = {}
    for key, value in response.items():
        out[key] = value
        if key == "stop_reason":
            out["stop_sequence"] = None
    out.setdefault("stop_sequence", None)
    return out


class AnthropicFields(_Base):  # type: ignore[misc]  # LiteLLM's CustomLogger (untyped here)
    """See the module's docstring."""

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        if str(call_type).endswith("anthropic_messages"):
            return with_parallel_flag(data)
        return data

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any
    ) -> Any:
        return with_stop_sequence(response)


anthropic_fields = AnthropicFields()
"""The instance litellm_settings.callbacks names (ccprov_anthropic_fields.anthropic_fields)."""
