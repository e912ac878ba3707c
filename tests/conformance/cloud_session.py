"""A Claude Code session transcript as it looks after turns on Anthropic's cloud, for
`claude --resume` on a self-hosted route (issue #30 item 2).

The record shape is the pinned CLI's own (2.1.331): one JSON object per line in
~/.claude/projects/<cwd with every non-alphanumeric as '-'>/<session id>.jsonl, `type`
user/assistant, chained by `parentUuid`, an assistant message written one record per
content block (same `message.id`, `apiBlockIndex` 0, 1, ...), a tool result as a user record
with `toolUseResult`. Captured from a `claude -p` run here and reduced to those records.
What only the cloud writes is added the way its API returns it: `thinking` with a
`signature`, `redacted_thinking` with opaque `data`, `toolu_01` + 22-character tool ids,
`cache_control` on a block, the cloud model's name and its usage fields.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

VERSION = "2.1.331"
CLOUD_MODEL = "claude-opus-4-5-20251101"
TOOL_ID = "toolu_01A09q90qw90lq917835lq9E"  # 28 characters, as the cloud's
# Opaque to every backend but Anthropic's (base64 of an encrypted block).
SIGNATURE = "EqQBCkYIBxgCKkBd0nX8sDv1cP2Wq6nSx9tfx3Lrb0kqk0c1Zk4m0c7Q5Qy3+4w1m3LZyq0bYfJ0Lw=="
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4"
# What the cloud's last answer said: a resumed model can only know it from the history.
CLOUD_ANSWER = "The note says the secret word is pelican-7."


def project_dir(home: Path, cwd: Path) -> Path:
    """Where the CLI keeps the sessions of CWD (its directory name escaping)."""
    return home / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(cwd))


def _record(
    kind: str, parent: str | None, cwd: Path, session: str, **fields: Any
) -> dict[str, Any]:
    return {
        "parentUuid": parent,
        "isSidechain": False,
        "type": kind,
        "uuid": str(uuid.uuid4()),
        "timestamp": "2026-12-06T09:00:00.000Z",
        "userType": "external",
        "entrypoint": "cli",
        "cwd": str(cwd),
        "sessionId": session,
        "version": VERSION,
        "gitBranch": "HEAD",
        **fields,
    }


def _assistant(
    model: str, message_id: str, blocks: list[dict[str, Any]], stop: str
) -> list[dict[str, Any]]:
    """One message per block, as the CLI writes a streamed answer."""
    usage = {
        "input_tokens": 4,
        "cache_creation_input_tokens": 11872,
        "cache_read_input_tokens": 0,
        "output_tokens": 187,
        "service_tier": "standard",
    }
    return [
        {
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": stop if i == len(blocks) - 1 else None,
                "stop_sequence": None,
                "usage": usage,
            },
            "apiBlockIndex": i,
            "requestId": f"req_011CV{message_id[-18:]}",
        }
        for i, block in enumerate(blocks)
    ]


def write(home: Path, cwd: Path, notes: Path, model: str = CLOUD_MODEL) -> str:
    """Write a two-turn session in CWD answered by MODEL (it read NOTES with the Read tool,
    thought about it, answered); return its session id."""
    session = str(uuid.uuid4())
    content = notes.read_text()
    numbered = "".join(f"{n}\t{line}\n" for n, line in enumerate(content.splitlines(), 1))
    parts: list[tuple[str, dict[str, Any]]] = [
        ("user", {"message": {"role": "user", "content": f"Read {notes} and quote it"}}),
        *[
            ("assistant", fields)
            for fields in _assistant(
                model,
                "msg_01XFDUDYJgAACzvnptvVoYEL",
                [
                    {
                        "type": "thinking",
                        "thinking": "The user wants the file quoted. I will read it first.",
                        "signature": SIGNATURE,
                    },
                    {"type": "text", "text": "I'll read the file."},
                    {
                        "type": "tool_use",
                        "id": TOOL_ID,
                        "name": "Read",
                        "input": {"file_path": str(notes)},
                        "caller": {"type": "direct"},
                    },
                ],
                "tool_use",
            )
        ],
        (
            "user",
            {
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": TOOL_ID,
                            "type": "tool_result",
                            "content": [
                                {
                                    "type": "text",
                                    "text": numbered,
                                    "cache_control": {"type": "ephemeral"},
                                }
                            ],
                        }
                    ],
                },
                "toolUseResult": {
                    "type": "text",
                    "file": {
                        "filePath": str(notes),
                        "content": content,
                        "numLines": len(content.splitlines()),
                        "startLine": 1,
                        "totalLines": len(content.splitlines()),
                    },
                },
            },
        ),
        *[
            ("assistant", fields)
            for fields in _assistant(
                model,
                "msg_01Q8Faay6S7QPTvEUUQARt7h",
                [
                    {"type": "redacted_thinking", "data": REDACTED},
                    {"type": "text", "text": CLOUD_ANSWER},
                ],
                "end_turn",
            )
        ],
    ]
    records, parent = [], None
    for kind, fields in parts:
        record = _record(kind, parent, cwd, session, **fields)
        records.append(record)
        parent = record["uuid"]
    folder = project_dir(home, cwd)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{session}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return session
