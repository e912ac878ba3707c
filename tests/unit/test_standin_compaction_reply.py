"""The vLLM stand-in's canned model answers Claude Code's compaction request with text, as a
model does: the request's template names `</summary>`, which must not read as a path."""

from __future__ import annotations

from tests.conftest import STANDIN_SRC, load_file

model = load_file("standin_model", STANDIN_SRC / "vllm/model.py")

# The end of Claude Code 2.1.331's compaction request (captured through the gateway).
COMPACT_PROMPT = (
    "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.\n<example>\n<summary>\n"
    "1. Primary Request and Intent:\n</summary>\n</example>\n"
    "REMINDER: Do NOT call any tools. Respond with plain text only — an <analysis> block "
    "followed by a <summary> block. Tool calls will be rejected and you will fail the task."
)


def test_compaction_request_gets_a_summary_not_a_read_call() -> None:
    conversation = model.Conversation("user", COMPACT_PROMPT, [], [{"name": "Read"}])
    segments = model.respond(conversation, "auto", allow_tools=True)
    assert [(s.text, s.tool) for s in segments] == [(model.SUMMARY, None)]
    assert model.SUMMARY.startswith("<summary>") and model.SUMMARY.endswith("</summary>")
