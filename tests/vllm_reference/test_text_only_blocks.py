"""Blocks a text-only model cannot take (issue #27 item 4), against vLLM 0.33.0's own
serving code: an `image` block (a pasted screenshot; Claude Code's Read on a PNG, inside a
tool_result) and a `tool_reference` block inside a tool_result (Claude Code's tool search)
are refused by vLLM itself, and so is every later turn of that session, since the block
stays in the history. The gateway's callback (roles/litellm_gateway/files/ccprov_text_only.py,
on by default: litellm_gateway_text_only) replaces them with a short text note on both
backend routes, so the same requests are answered."""

from __future__ import annotations

import base64
import json
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Developer, fresh_developer
from tests.support.gateway import start_gateway
from tests.support.paths import CLAUDE

MODEL = "devstral"
TOOL_ID = "rd7Kq2xZ9"  # 9 alphanumerics, as the Mistral tool parser wants
NOTE = f"[image omitted: the self-hosted model {MODEL} reads text only]"


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


IMAGE = {
    "type": "image",
    "source": {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(tiny_png()).decode(),
    },
}
TOOLS = [
    {
        "name": name,
        "description": f"The {name} tool.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    for name in ("Read", "ToolSearch")
]


def after_tool(name: str, result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A turn whose tool call NAME came back with the content blocks RESULT."""
    return [
        {"role": "user", "content": f"Use {name}."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": TOOL_ID, "name": name, "input": {"q": "x"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": TOOL_ID, "content": result}],
        },
    ]


CASES = {
    "image-in-user-message": [
        {
            "role": "user",
            "content": [IMAGE, {"type": "text", "text": "What is in this screenshot?"}],
        }
    ],
    "image-in-tool-result": after_tool("Read", [IMAGE]),
    # A later turn of the session: the block is still in the history.
    "image-earlier-in-the-session": [
        *after_tool("Read", [IMAGE]),
        {"role": "assistant", "content": "I cannot see it."},
        {"role": "user", "content": "Then just say OK."},
    ],
    "tool-reference-in-tool-result": after_tool(
        "ToolSearch", [{"type": "tool_reference", "tool_name": "Read"}]
    ),
}
REFUSALS = {
    "image-earlier-in-the-session": "is not a multimodal model",
    "image-in-user-message": "is not a multimodal model",
    "image-in-tool-result": "is not a multimodal model",
    "tool-reference-in-tool-result": "'tool_reference' is not a valid ChunkTypes",
}


def post(url: str, key: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def post_messages(url: str, key: str, messages: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    body = {"model": MODEL, "max_tokens": 64, "tools": TOOLS, "messages": messages}
    return post(url, key, "/v1/messages", body)


def answer_text(body: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in body.get("content", []))


@pytest.mark.parametrize("case", sorted(CASES))
def test_direct_vllm_refuses_the_block(reference, case: str) -> None:
    status, body = post_messages(reference.url, reference.api_key, CASES[case])
    assert status == 400, body
    assert REFUSALS[case] in json.dumps(body), body


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_gateway_replaces_the_block(reference_gateway, case: str) -> None:
    route, gateway = reference_gateway
    status, body = post_messages(gateway.url, gateway.master_key, CASES[case])
    assert status == 200, f"[{route}] {body}\n" + gateway.log.read_text()[-2000:]
    if case.endswith("tool-result"):
        # The canned model quotes the tool result it saw: the note, not the block.
        expected = "[tool reference: Read]" if case.startswith("tool-reference") else NOTE
        assert expected in answer_text(body), f"[{route}] {body}"


CHAT_IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this screenshot?"},
            {
                "type": "image_url",
                "image_url": {"url": "data:image/png;base64," + IMAGE["source"]["data"]},
            },
        ],
    }
]


def post_chat(url: str, key: str, messages: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    body = {"model": MODEL, "max_tokens": 16, "messages": messages}
    return post(url, key, "/v1/chat/completions", body)


def test_openai_clients_image_parts(reference, reference_gateway) -> None:
    """OpenAI-style clients on /v1/chat/completions: an image_url part, the same refusal
    direct, answered through the gateway."""
    status, body = post_chat(reference.url, reference.api_key, CHAT_IMAGE)
    assert status == 400 and "is not a multimodal model" in json.dumps(body), body
    route, gateway = reference_gateway
    status, body = post_chat(gateway.url, gateway.master_key, CHAT_IMAGE)
    assert status == 200, f"[{route}] {body}"


# --- The real Claude Code CLI ------------------------------------------------------------


@pytest.fixture(scope="module")
def developer() -> Iterator[Developer]:
    yield from fresh_developer()


@pytest.fixture(scope="module")
def gateway_without_rewrite(reference, tmp_path_factory):
    proc, gateway = start_gateway(
        tmp_path_factory.mktemp("reference-gateway-no-rewrite"),
        reference.url,
        reference.api_key,
        extra_vars={"litellm_gateway_text_only": False},
    )
    try:
        yield gateway
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def claude_reads_png(developer: Developer, gateway_url: str, key: str):
    shot = developer.home / "shot.png"
    shot.write_bytes(tiny_png())
    shot.chmod(0o644)
    env = {
        "ANTHROPIC_BASE_URL": gateway_url,
        "ANTHROPIC_AUTH_TOKEN": key,
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": MODEL,
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }
    return developer.run(
        f'{CLAUDE} -p "Read {shot}" --allowedTools Read --output-format text', env=env
    )


def test_claude_reads_a_png_through_the_gateway(reference_gateway, developer) -> None:
    """`claude -p "Read /ABS/shot.png"` (Claude Code 2.1.331): its Read tool sends the PNG
    back as an `image` block inside the tool_result. Through the gateway it completes and the
    model saw the note. The same run through a gateway with litellm_gateway_text_only: false
    (test_claude_fails_without_the_rewrite) exits 1 and prints
    `API Error: 400 litellm.BadRequestError: Hosted_vllmException - {"type":"error","error":
    {"type":"invalid_request_error","message":"devstral is not a multimodal model"}}`; the
    tool_result stays in the history, so every later turn of that session would get the same
    400 (case image-earlier-in-the-session above)."""
    route, gateway = reference_gateway
    proc = claude_reads_png(developer, gateway.url, gateway.master_key)
    assert proc.returncode == 0, (
        f"[{route}] " + proc.stdout + proc.stderr + gateway.log.read_text()[-2000:]
    )
    assert NOTE in proc.stdout, f"[{route}] {proc.stdout}"


def test_claude_fails_without_the_rewrite(gateway_without_rewrite, developer) -> None:
    """The evidence for the rewrite: the same run with the option off is refused by vLLM."""
    proc = claude_reads_png(
        developer, gateway_without_rewrite.url, gateway_without_rewrite.master_key
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "not a multimodal model" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
