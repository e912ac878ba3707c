"""Two vLLM hosts behind one gateway (the role's config, default route): both serve, and
when one dies its requests move to the other with no error the client sees after the
router's retry (issue #22: "two backends both used, one killed"). A host that hangs (it
accepts connections and never answers) mid-answer costs the turn in flight the stream-idle
limit, not the first-token one, and no other turn waits on it; a stream it breaks after its
200 is an error in the usage log (issue #29)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ccprov.probes import conformance
from tests.conformance.conftest import FIXTURES
from tests.conftest import free_port, start_standin
from tests.e2e.conftest import Gateway, start_gateway
from tests.support.continuity import read_turn, turn_request

KEY = "sk-failover-vllm-key-0123456789abcdef"


@dataclass
class Fleet:
    gateway: Gateway
    standins: list[subprocess.Popen[bytes]]
    dumps: list[Path]  # each stand-in's requests, one JSON line each
    ports: list[int]
    usage: Path  # the gateway's usage log directory


@contextlib.contextmanager
def two_backends(
    tmp: Path, extra_vars: dict[str, object], token_delay: float | None = None
) -> Iterator[Fleet]:
    """Two vLLM stand-ins behind the real gateway (the role's config with both as backends)."""
    dumps = [tmp / "gpu1.jsonl", tmp / "gpu2.jsonl"]
    ports = [free_port(), free_port()]
    standins = [
        start_standin(p, KEY, dump=d, token_delay=token_delay)
        for p, d in zip(ports, dumps, strict=True)
    ]
    urls = [f"http://127.0.0.1:{port}/v1" for port in ports]
    (tmp / "gateway").mkdir()
    proc, gateway = start_gateway(
        tmp / "gateway",
        urls[0].removesuffix("/v1"),
        KEY,
        extra_env={"LITELLM_BACKEND_KEY_2": KEY},
        extra_vars={"litellm_gateway_backends": [{"api_base": u} for u in urls], **extra_vars},
    )
    try:
        yield Fleet(gateway, standins, dumps, ports, tmp / "gateway/usage")
    finally:
        for standin in standins:
            standin.send_signal(signal.SIGCONT)  # a test may have stopped one
        proc.terminate()
        proc.wait(timeout=20)
        for standin in standins:
            standin.kill()
            standin.wait(timeout=10)


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory) -> Iterator[tuple[Gateway, list, list[Path]]]:
    # Spread and failover without session affinity (on by default with two backends, which
    # would pin the one key to one host): the gateway molecule scenario and the site e2e
    # cover affinity.
    with two_backends(
        tmp_path_factory.mktemp("failover"), {"litellm_gateway_affinity": "never"}
    ) as fleet:
        yield fleet.gateway, fleet.standins, fleet.dumps


def ask(gateway: Gateway, word: str) -> str:
    ctx = conformance.Context(
        conformance.Target(gateway.url, gateway.master_key, "devstral"), FIXTURES
    )
    say = {"role": "user", "content": f"Say {word}"}
    reply = ctx.messages({"max_tokens": 16, "messages": [say]})
    assert reply.status == 200, reply.body[:500]
    return "".join(b.get("text", "") for b in json.loads(reply.body)["content"])


def served(dump: Path) -> int:
    return len(dump.read_text().splitlines()) if dump.exists() else 0


def test_both_hosts_serve_then_one_dies_and_no_request_fails(two_hosts) -> None:
    gateway, standins, dumps = two_hosts
    for i in range(12):
        assert ask(gateway, f"A{i}") == f"A{i}"
    first = [served(d) for d in dumps]
    assert all(n > 0 for n in first), f"requests per host: {first}"

    standins[0].kill()
    standins[0].wait(timeout=10)
    for i in range(12):
        assert ask(gateway, f"B{i}") == f"B{i}"  # a 5xx or a timeout fails here
    after = [served(d) for d in dumps]
    assert after[0] == first[0] and after[1] == first[1] + 12, (first, after)


STREAM_TIMEOUT = 8  # litellm_gateway_stream_timeout here (90 s by default): the first token
IDLE_TIMEOUT = 2  # litellm_gateway_stream_idle_timeout here (0 by default): every later gap
PACE = 0.25  # seconds between the stand-ins' streamed events: turns last a few seconds
ALICE = "sk-ccprov-alice-failover-0123456789abcdef"


@pytest.fixture(scope="module")
def paced_hosts(tmp_path_factory) -> Iterator[Fleet]:
    """Two paced stand-ins behind the role's config as it is with two backends (session
    affinity on), short stream limits, and a developer key (the usage log names her)."""
    limits = {
        "litellm_gateway_stream_timeout": STREAM_TIMEOUT,
        "litellm_gateway_stream_idle_timeout": IDLE_TIMEOUT,
    }
    with two_backends(tmp_path_factory.mktemp("hung"), limits, token_delay=PACE) as fleet:
        fleet.gateway.set_developers(
            {"alice": {"sha256": hashlib.sha256(ALICE.encode()).hexdigest()}}
        )
        yield fleet


def turn(gateway: Gateway, session: str, words: list[str]) -> tuple[float, str]:
    """One streamed Claude Code turn (tests/support/continuity.py's shape): its seconds, and
    its error ("" when the answer came whole)."""
    request = urllib.request.Request(
        gateway.url + "/v1/messages",
        data=json.dumps(turn_request([], words)).encode(),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {ALICE}",
            "x-claude-code-session-id": session,
        },
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=3 * STREAM_TIMEOUT) as response:
            text = read_turn(response)
        error = "" if text.strip() == " ".join(words) else f"wrong answer {text!r}"
    except Exception as exc:  # the failure is the finding
        error = f"{type(exc).__name__}: {exc}"
    return time.monotonic() - start, error


def usage_lines(usage: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(usage.glob("*.jsonl")) for line in f.open()]


def test_a_host_hung_mid_answer_costs_the_turn_the_idle_limit_and_no_more(paced_hosts) -> None:
    """vLLM stopped dead (SIGSTOP: its socket accepts, nothing answers; a stuck tensor-parallel
    collective does this, which a CPU cannot) mid-answer on the session's host. The stream
    breaks after IDLE_TIMEOUT, not STREAM_TIMEOUT (the first-token limit, all LiteLLM 1.106.2
    has: its read timeout), with an error event (ccprov_failover.py's iterator hook); Claude
    Code's retry of the turn, and a new session's first turn, then go straight to the other
    host: neither waits a limit again (the hook cools the host down before the client sees
    the error; LiteLLM's own failure callback runs as a task, after the retry may have picked
    its host, and session affinity sends the retry to the hung one). The broken stream is an
    error line in the usage log that names the host and the timeout."""
    fleet = paced_hosts
    gateway, standins, dumps, usage, ports = (
        fleet.gateway,
        fleet.standins,
        fleet.dumps,
        fleet.usage,
        fleet.ports,
    )
    # A session on each host first: a host's first turn through this gateway costs it about
    # 2 s more (seen: 4.0 s, then 1.8 s), which the retry below must not be charged.
    sessions: dict[int, str] = {}
    for _ in range(8):
        before = [served(d) for d in dumps]
        session = str(uuid.uuid4())
        assert turn(gateway, session, ["warm"])[1] == ""
        sessions.setdefault(0 if served(dumps[0]) > before[0] else 1, session)
        if len(sessions) == 2:
            break
    assert len(sessions) == 2, f"every new session went to host {sessions}"
    hung, session = 0, sessions[0]

    words = [f"w{i}" for i in range(16)]  # about 4 s at PACE
    broken: dict[str, tuple[float, str]] = {}
    thread = threading.Thread(target=lambda: broken.update(turn=turn(gateway, session, words)))
    thread.start()
    time.sleep(4 * PACE)  # the answer is streaming
    standins[hung].send_signal(signal.SIGSTOP)
    try:
        thread.join(timeout=2 * STREAM_TIMEOUT)
        broken_seconds, error = broken["turn"]
        assert error.startswith("RuntimeError: error event"), error  # not the client's timeout
        assert broken_seconds < STREAM_TIMEOUT, (
            f"the turn in flight waited the first-token limit: {broken_seconds:.1f} s"
        )
        retry_seconds, retry_error = turn(gateway, session, ["again"])
        assert retry_error == ""
        assert retry_seconds < STREAM_TIMEOUT, (
            f"the retry waited on the hung host again: {retry_seconds:.1f} s"
        )
        new_seconds, new_error = turn(gateway, str(uuid.uuid4()), ["fresh"])
        assert new_error == ""
        assert new_seconds < STREAM_TIMEOUT, (
            f"a new session waited on the hung host: {new_seconds:.1f} s"
        )
    finally:
        standins[hung].send_signal(signal.SIGCONT)

    failed = [line for line in usage_lines(usage) if line["status"] != 200]
    assert len(failed) == 1, failed
    (line,) = failed
    assert (line["developer"], line["stream"], line["status"]) == ("alice", True, 504), line
    assert (line["error"], line["backend"]) == ("StreamIdleTimeout", f"127.0.0.1:{ports[hung]}")
