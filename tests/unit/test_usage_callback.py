"""The gateway's usage log callback (roles/litellm_gateway/files/ccprov_usage.py), fed the
kwargs LiteLLM 1.106.2 passes a CustomLogger: the standard logging payload
(litellm/litellm_core_utils/litellm_logging.py; shapes as dumped from the pinned proxy in
front of the vLLM stand-in) and, for failures, post_call_failure_hook's request_data."""

from __future__ import annotations

import asyncio
import datetime as dt
import grp
import json
import logging
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, load_file

usage = load_file("ccprov_usage", REPO / "roles/litellm_gateway/files/ccprov_usage.py")

CANARY = "CANARY-7f3e-prompt-text"
DEV_KEY = "sk-ccprov-alice-0123456789abcdef"
BACKEND_KEY = "sk-backend-0123456789abcdef0123"
SESSION = "e96634a3-fa28-4083-b354-55542e2dca01"
START = 1796054180.211931  # 2026-11-30T15:56:20.211Z


def payload(**over: Any) -> dict[str, Any]:
    """A success payload of an /v1/messages stream (call_type anthropic_messages)."""
    base: dict[str, Any] = {
        "id": "chatcmpl-045cd593",
        "trace_id": SESSION,
        "session_id": "",
        "call_type": "anthropic_messages",
        "stream": True,
        "status": "success",
        "status_fields": {"llm_api_status": "success", "guardrail_status": "not_run"},
        "custom_llm_provider": "hosted_vllm",
        "total_tokens": 180,
        "prompt_tokens": 164,
        "completion_tokens": 16,
        "startTime": START,
        "endTime": START + 0.013612,
        "completionStartTime": START + 0.004584,
        "response_time": 0.004584,
        "model": "hosted_vllm/devstral",
        "model_id": "backend-1",
        "model_group": "devstral",
        "api_base": "http://127.0.0.1:8000/v1/messages",
        "metadata": {
            "user_api_key_hash": "ccprov-alice",
            "user_api_key_user_id": "alice",
            "user_api_key_request_route": "/v1/messages",
            "requester_ip_address": "127.0.0.1",
            "user_agent": "claude-cli/2.1.331",
            "usage_object": {
                "completion_tokens": 16,
                "prompt_tokens": 164,
                "total_tokens": 180,
                "prompt_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 160},
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 160,
            },
        },
        "hidden_params": {"model_id": None, "api_base": None, "usage_object": None},
        "messages": [{"role": "user", "content": f"{CANARY} say OK"}],
        "response": {"content": [{"type": "text", "text": f"OK {CANARY}"}]},
        "error_str": None,
        "error_information": {"error_code": "", "error_class": "", "error_message": ""},
        "requester_ip_address": "127.0.0.1",
        "user_agent": "claude-cli/2.1.331",
    }
    base.update(over)
    return base


def kwargs_for(slo: dict[str, Any], session: str | None = SESSION) -> dict[str, Any]:
    return {
        "model": "hosted_vllm/devstral",
        "messages": slo.get("messages"),
        "api_key": BACKEND_KEY,
        "stream": slo.get("stream"),
        "litellm_call_id": "8f0c",
        "litellm_params": {
            "api_base": "http://127.0.0.1:8000/v1",
            "api_key": BACKEND_KEY,
            "litellm_session_id": session,
            "metadata": {"user_api_key_user_id": "alice", "user_api_key": "ccprov-alice"},
            "proxy_server_request": {
                "headers": {"authorization": f"Bearer {DEV_KEY}"},
                "body": {"messages": [{"role": "user", "content": CANARY}]},
            },
        },
        "standard_logging_object": slo,
        "start_time": dt.datetime.fromtimestamp(START),
        "end_time": dt.datetime.fromtimestamp(START + 0.013612),
    }


@pytest.fixture
def logger(tmp_path: Path) -> Any:
    return usage.UsageLogger(str(tmp_path))


def lines(directory: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.glob("usage-*.jsonl")):
        found += [json.loads(line) for line in path.read_text().splitlines()]
    return found


def test_a_streamed_messages_request_becomes_one_line(logger, tmp_path) -> None:
    slo = payload()
    asyncio.run(logger.async_log_success_event(kwargs_for(slo), object(), None, None))
    assert (tmp_path / "usage-2026-11-30.jsonl").exists()
    assert lines(tmp_path) == [
        {
            "ts": "2026-11-30T15:56:20.225Z",
            "developer": "alice",
            "model": "devstral",
            "backend": "127.0.0.1:8000",
            "status": 200,
            "error": None,
            "stream": True,
            "input_tokens": 164,
            "output_tokens": 16,
            "cached_tokens": 160,
            "ttft_ms": 4.6,
            "total_ms": 13.6,
            "session": SESSION,
        }
    ]
    assert list(lines(tmp_path)[0]) == list(usage.FIELDS)


def test_chat_completions_take_the_backend_from_hidden_params(logger, tmp_path) -> None:
    """/v1/chat/completions (call_type acompletion): OpenAI-style usage, no session."""
    slo = payload(
        call_type="acompletion",
        stream=None,
        api_base="",
        completionStartTime=START + 0.0188,
        endTime=START + 0.0188,
        hidden_params={"model_id": "backend-2", "api_base": "https://gpu2.example:8443/v1"},
    )
    slo["metadata"] = {
        "user_api_key_user_id": "bob",
        "usage_object": {
            "prompt_tokens": 164,
            "completion_tokens": 16,
            "prompt_tokens_details": {"cached_tokens": 150, "created_cache_tokens": 0},
        },
    }
    kwargs = kwargs_for(slo, session=None)
    kwargs["stream"] = None
    asyncio.run(logger.async_log_success_event(kwargs, object(), None, None))
    (line,) = lines(tmp_path)
    assert (line["developer"], line["backend"], line["stream"]) == (
        "bob",
        "gpu2.example:8443",
        False,
    )
    assert (line["input_tokens"], line["cached_tokens"], line["session"]) == (164, 150, None)
    assert line["ttft_ms"] == line["total_ms"] == 18.8


def hook(logger: Any, request_data: dict[str, Any], exc: Exception, user: str | None) -> None:
    class Auth:
        user_id = user

    asyncio.run(logger.async_post_call_failure_hook(request_data, exc, Auth()))


class ProxyRateLimitError(Exception):
    status_code = 429


class ProxyException(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def test_a_rate_limited_request_is_one_error_line(logger, tmp_path) -> None:
    slo = payload(
        status="failure",
        call_type="acompletion",
        stream=None,
        api_base="",
        prompt_tokens=0,
        completion_tokens=0,
        startTime=START,
        endTime=START + 0.0018,
        completionStartTime=START + 0.0018,
        error_information={
            "error_code": "429",
            "error_class": "ProxyRateLimitError",
            "error_message": f"Rate limit exceeded for REDACTED {CANARY}",
        },
    )
    slo["metadata"] = {"user_api_key_user_id": "bob", "usage_object": {}}
    request_data = {
        "model": "devstral",
        "messages": [{"role": "user", "content": CANARY}],
        "metadata": {
            "user_api_key_user_id": "bob",
            "session_id": SESSION,
            "headers": {"x-api-key": DEV_KEY},
        },
        "standard_logging_object": slo,
        "start_time": dt.datetime.fromtimestamp(START),
    }
    hook(logger, request_data, ProxyRateLimitError(f"limit {CANARY}"), "bob")
    (line,) = lines(tmp_path)
    assert line == {
        "ts": "2026-11-30T15:56:20.213Z",
        "developer": "bob",
        "model": "devstral",
        "backend": None,
        "status": 429,
        "error": "ProxyRateLimitError",
        "stream": False,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_tokens": 0,
        "ttft_ms": None,
        "total_ms": 1.8,
        "session": SESSION,
    }


def test_a_refused_key_has_no_developer_and_no_payload_is_needed(logger, tmp_path) -> None:
    """The key hook raised (401): no user; a hook call without a payload still logs."""
    request_data = {"model": "devstral", "messages": [{"role": "user", "content": CANARY}]}
    hook(logger, request_data, ProxyException(f"Unknown API key {CANARY}", "401"), None)
    assert lines(tmp_path) == []  # counted, written once the minute is over
    logger.flush_refused(force=True)
    (line,) = lines(tmp_path)
    assert line == {
        "ts": line["ts"],
        "developer": None,
        "status": 401,
        "error": "ProxyException",
        "count": 1,
    }
    assert list(line) == list(usage.REFUSED_FIELDS)


def test_refused_requests_are_counted_not_logged_one_by_one(logger, tmp_path, monkeypatch):
    """Issue #28: each 401 appended ~470 bytes with a model and session the caller picked
    (300 requests in 3.7 s, kept 90 days). Now a minute of them is one line per status."""
    clock = [1000.0]
    monkeypatch.setattr(usage.time, "monotonic", lambda: clock[0])
    for n in range(300):
        request = {"model": f"attacker-model-{n}", "litellm_session_id": f"s{n}"}
        hook(logger, request, ProxyException("Unknown API key", "401"), None)
    assert lines(tmp_path) == []
    clock[0] += usage.REFUSED_WINDOW
    hook(logger, {"model": "x"}, ProxyException("Unknown API key", "401"), None)
    (line,) = lines(tmp_path)
    assert (line["status"], line["count"]) == (401, 301)
    assert "attacker-model" not in json.dumps(line)


def test_a_days_file_stops_at_its_cap(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(usage, "MAX_FILE_BYTES", 600)
    logger = usage.UsageLogger(str(tmp_path))
    written = [logger.write(usage.record(kwargs_for(payload()), 0, 0, True)) for _ in range(5)]
    assert written.count(True) >= 1 and written[-1] is False
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 600


def test_no_prompt_answer_error_text_or_key_is_written(logger, tmp_path) -> None:
    slo = payload()
    asyncio.run(logger.async_log_success_event(kwargs_for(slo), object(), None, None))
    hook(
        logger,
        {"model": "devstral", "messages": [{"role": "user", "content": CANARY}]},
        ProxyException(f"{CANARY} {DEV_KEY}", "401"),
        None,
    )
    logger.flush_refused(force=True)
    text = "".join(p.read_text() for p in tmp_path.iterdir())
    assert len(text.splitlines()) == 2
    for secret in (CANARY, DEV_KEY, BACKEND_KEY, "ccprov-alice", "Bearer"):
        assert secret not in text


def test_odd_sessions_and_names_are_not_copied(logger, tmp_path) -> None:
    slo = payload(model_group=f"devstral {CANARY}\n")
    slo["metadata"]["user_api_key_user_id"] = "alice\n"
    kwargs = kwargs_for(slo, session=f"{CANARY} text")
    kwargs["litellm_params"]["metadata"]["user_api_key_user_id"] = "alice forged"
    asyncio.run(logger.async_log_success_event(kwargs, 0, None, None))
    (line,) = lines(tmp_path)
    assert line["developer"] is None
    assert line["model"] == "hosted_vllm/devstral"  # kwargs' model, the group was refused
    assert line["session"].startswith("sha256:") and len(line["session"]) == 23


def test_files_are_0640_in_the_directorys_group_whatever_the_umask(tmp_path) -> None:
    directory = tmp_path / "usage"
    directory.mkdir()
    group = os.getgid()
    if os.geteuid() == 0:
        group = grp.getgrnam("nogroup").gr_gid
        os.chown(directory, 0, group)
    os.chmod(directory, 0o2750)  # noqa: S103 (the role's setgid usage directory)
    old = os.umask(0o077)
    try:
        assert usage.UsageLogger(str(directory)).write(
            usage.record(kwargs_for(payload()), 0, 0, True)
        )
    finally:
        os.umask(old)
    (path,) = directory.iterdir()
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_gid == group


def test_files_roll_over_at_midnight_utc(logger, tmp_path) -> None:
    for end in (1796083199.9, 1796083200.1):  # 2026-11-30T23:59:59.9Z, 2026-12-01T00:00:00.1Z
        slo = payload(startTime=end - 1, endTime=end, completionStartTime=end - 0.5)
        asyncio.run(logger.async_log_success_event(kwargs_for(slo), 0, None, None))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "usage-2026-11-30.jsonl",
        "usage-2026-12-01.jsonl",
    ]


def _writer(directory: str, worker: int, count: int) -> None:
    logger = usage.UsageLogger(directory)
    for index in range(count):
        slo = payload(prompt_tokens=worker * 10_000 + index, completion_tokens=worker)
        logger.write(usage.record(kwargs_for(slo), 0, 0, True))


def test_workers_appending_at_once_never_interleave(tmp_path) -> None:
    """uvicorn workers are processes with an instance each: one O_APPEND write per line."""
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w, 300)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    found = lines(tmp_path)
    assert len(found) == 1200
    assert sorted(line["input_tokens"] for line in found) == sorted(
        w * 10_000 + i for w in range(4) for i in range(300)
    )


def test_a_failing_write_is_logged_once_and_never_raises(tmp_path, caplog) -> None:
    directory = tmp_path / "missing"
    logger = usage.UsageLogger(str(directory))
    kwargs = kwargs_for(payload())
    with caplog.at_level(logging.WARNING, logger="ccprov_usage"):
        for _ in range(3):
            asyncio.run(logger.async_log_success_event(kwargs, 0, None, None))
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
        assert "cannot write" in caplog.text and str(directory) in caplog.text
        directory.mkdir()
        asyncio.run(logger.async_log_success_event(kwargs, 0, None, None))
        asyncio.run(logger.async_log_success_event(kwargs, 0, None, None))
    assert "works again" in caplog.text
    assert len(lines(directory)) == 2


def test_a_payload_it_cannot_read_never_raises(logger, tmp_path, caplog) -> None:
    asyncio.run(logger.async_log_success_event(None, None, None, None))
    asyncio.run(logger.async_log_success_event({"standard_logging_object": 7}, None, 1, 2))
    assert len(lines(tmp_path)) == 2  # still a line each: time and status only


def test_the_directory_comes_from_the_units_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CCPROV_USAGE_DIR", str(tmp_path))
    assert usage.UsageLogger().directory == str(tmp_path)
    monkeypatch.delenv("CCPROV_USAGE_DIR")
    assert usage.UsageLogger().directory == "/var/log/ccprov-usage"


def test_litellms_own_body_check_is_logged_as_the_400_it_is(logger, tmp_path, monkeypatch):
    """Issue #28: LiteLLM's body check (proxy/auth/auth_utils.py, is_request_body_safe) runs
    before any key is read and raises a bare ValueError; auth_exception_handler.py gave this
    hook no user and the client a plain 500, and the log said 500 ValueError. Now: counted
    as 400 RequestBodyRejected (no key was checked, so no developer), and the hook hands
    LiteLLM the 400 to answer with (a callback's HTTPException wins, proxy/utils.py)."""

    class HTTPException(Exception):  # fastapi's, as the proxy has it
        def __init__(self, status_code: int, detail: str) -> None:
            super().__init__(detail)
            self.status_code, self.detail = status_code, detail

    fastapi = type(os)("fastapi")
    fastapi.HTTPException = HTTPException  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "fastapi", fastapi)
    refusal = ValueError("Rejected Request: api_base is not allowed in request body.")
    request_data = {"model": "devstral", "api_base": "http://attacker.example/", "metadata": {}}

    class NoUser:
        user_id = None

    answer = asyncio.run(logger.async_post_call_failure_hook(request_data, refusal, NoUser()))
    assert isinstance(answer, HTTPException)
    assert (answer.status_code, answer.detail) == (400, str(refusal))
    logger.flush_refused(force=True)
    (line,) = lines(tmp_path)
    assert (line["developer"], line["status"], line["error"], line["count"]) == (
        None,
        400,
        "RequestBodyRejected",
        1,
    )


def test_other_failures_keep_litellms_answer_and_the_developer(logger, tmp_path) -> None:
    """A refusal after the key check (an unknown model) is the developer's line, with the
    status LiteLLM sent; the hook changes no other answer."""

    class Alice:
        user_id = "alice"

    exc = ProxyException("Invalid model name passed in model=nope", "400")
    answer = asyncio.run(logger.async_post_call_failure_hook({"model": "nope"}, exc, Alice()))
    assert answer is None
    (line,) = lines(tmp_path)
    assert (line["developer"], line["model"], line["status"], line["error"]) == (
        "alice",
        "nope",
        400,
        "ProxyException",
    )
    # Any other ValueError stays what it was.
    assert asyncio.run(logger.async_post_call_failure_hook({}, ValueError("x"), Alice())) is None
