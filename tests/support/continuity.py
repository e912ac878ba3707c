"""Simulated Claude Code sessions against the gateways while something changes (issue #29).

Each session is a thread sending Claude Code's kind of turn, one after another: a streamed
POST /v1/messages with a system prompt, a tool, the growing history, the developer's key and
an X-Claude-Code-Session-Id (what the gateways pin sessions by), read to its message_stop
and checked word for word. A turn that fails is recorded as failed "raw", then retried as
Claude Code retries (CLAUDE_CODE_MAX_RETRIES, 10 by default, exponential backoff from
500 ms); if every retry fails too it is failed "after retries".

`during(event, ...)` runs the sessions, performs the event, keeps them going a few seconds
more, and returns what the turns saw: the row of the continuity table.
"""

from __future__ import annotations

import json
import ssl
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SYSTEM = "You are Claude Code, Anthropic's official CLI for Claude."
TOOLS = [
    {
        "name": "Read",
        "description": "Read a file from the local filesystem.",
        "input_schema": {
            "type": "object",
            "properties": {"file_path": {"type": "string"}},
            "required": ["file_path"],
        },
    }
]
TURNS_PER_SESSION = 6


@dataclass
class Turn:
    started: float
    seconds: float  # the first attempt's, success or not
    total: float  # until it succeeded or gave up, retries included
    ok_raw: bool
    ok: bool
    error: str = ""


@dataclass
class Row:
    event: str
    turns: int
    failed_raw: int
    failed: int
    max_seconds: float
    median_seconds: float
    errors: list[str] = field(default_factory=list)

    def markdown(self, baseline: float, gone: str = "") -> str:
        added = max(0.0, self.max_seconds - baseline)
        return (
            f"| {self.event} | {self.turns} | {self.failed_raw} | {self.failed} "
            f"| {added:.1f} s | {gone or '-'} |"
        )


def turn_request(history: list[dict[str, Any]], words: list[str]) -> dict[str, Any]:
    return {
        "model": "devstral",
        "max_tokens": 32000,
        "stream": True,
        "system": [{"type": "text", "text": SYSTEM}],
        "tools": TOOLS,
        "messages": [*history, {"role": "user", "content": "Say " + " ".join(words)}],
    }


def read_turn(response: Any) -> str:
    """The text of a streamed Messages answer; raises if it ends before message_stop."""
    text, stopped = "", False
    for raw in response:
        line = raw.decode().strip()
        if not line.startswith("data: "):
            continue
        event = json.loads(line[6:])
        if event.get("type") == "content_block_delta":
            text += event["delta"].get("text", "")
        elif event.get("type") == "error":
            raise RuntimeError(f"error event: {event.get('error')}")
        elif event.get("type") == "message_stop":
            stopped = True
    if not stopped:
        raise RuntimeError("stream ended before message_stop")
    return text


class Sessions:
    """`count` sessions spread over `urls`, until stop()."""

    def __init__(
        self,
        urls: list[str],
        key: str,
        ca_file: str | None,
        count: int = 4,
        retries: int = 10,
        backoff_cap: float = 8.0,
        read_timeout: float = 120.0,
    ) -> None:
        self.urls, self.key, self.retries, self.backoff_cap = urls, key, retries, backoff_cap
        self.read_timeout = read_timeout
        self.context = ssl.create_default_context(cafile=ca_file)
        self.turns: list[Turn] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._session_loop, args=(i,), daemon=True)
            for i in range(count)
        ]

    def __enter__(self) -> Sessions:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(600)

    def _attempt(self, url: str, session: str, body: dict[str, Any], words: list[str]) -> str:
        request = urllib.request.Request(
            url + "/v1/messages",
            data=json.dumps(body).encode(),
            headers={
                "content-type": "application/json",
                # claude-switch sets ANTHROPIC_AUTH_TOKEN: Claude Code sends it as a Bearer token.
                "authorization": f"Bearer {self.key}",
                "anthropic-version": "2023-06-01",
                "x-claude-code-session-id": session,
                "user-agent": "claude-cli/2.1.331 (external, cli)",
            },
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.read_timeout, context=self.context
            ) as response:
                text = read_turn(response)
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}: {exc.read()[:160]!r}"
        except Exception as exc:  # any failure is a failed turn, named
            return f"{type(exc).__name__}: {exc}"[:200]
        expected = " ".join(words)
        return "" if text.strip() == expected else f"wrong answer {text[:80]!r}"

    def _session_loop(self, index: int) -> None:
        url = self.urls[index % len(self.urls)]
        n = 0
        while not self.stopping.is_set():
            session, history = str(uuid.uuid4()), []
            for _ in range(TURNS_PER_SESSION):
                if self.stopping.is_set():
                    return
                n += 1
                # The stand-in answers `Say X` with X (one word): its pace sets the turn's length.
                words = [f"s{index}t{n}"]
                body = turn_request(history, words)
                start = time.monotonic()
                error = self._attempt(url, session, body, words)
                first = time.monotonic() - start
                ok_raw, last_error = not error, error
                attempt = 0
                while last_error and attempt < self.retries:
                    time.sleep(min(0.5 * 2**attempt, self.backoff_cap))
                    attempt += 1
                    last_error = self._attempt(url, session, body, words)
                with self.lock:
                    self.turns.append(
                        Turn(start, first, time.monotonic() - start, ok_raw, not last_error, error)
                    )
                history += [
                    body["messages"][-1],
                    {"role": "assistant", "content": [{"type": "text", "text": " ".join(words)}]},
                ]

    def row(self, event: str, since: float, until: float) -> Row:
        with self.lock:
            turns = [t for t in self.turns if since <= t.started <= until]
        seconds = [t.total for t in turns] or [0.0]
        return Row(
            event=event,
            turns=len(turns),
            failed_raw=sum(not t.ok_raw for t in turns),
            failed=sum(not t.ok for t in turns),
            max_seconds=max(seconds),
            median_seconds=statistics.median(seconds),
            errors=sorted({t.error for t in turns if t.error})[:5],
        )


def during(
    event: str,
    action: Callable[[], Any],
    urls: list[str],
    key: str,
    ca_file: str | None,
    *,
    sessions: int = 4,
    retries: int = 10,
    read_timeout: float = 120.0,
    before: float = 2.0,
    after: float = 3.0,
) -> tuple[Row, Any]:
    """Sessions run `before` seconds, through `action()`, and `after` seconds more; the row
    counts every turn started in that window, and the action's result comes back too."""
    since = time.monotonic()
    with Sessions(
        urls, key, ca_file, count=sessions, retries=retries, read_timeout=read_timeout
    ) as load:
        time.sleep(before)
        result = action()
        time.sleep(after)
        until = time.monotonic()
        load.stop()
    return load.row(event, since, until), result
