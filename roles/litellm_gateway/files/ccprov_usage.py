"""Per-request usage log of the LiteLLM gateway (a CustomLogger callback, issue #21).

Loaded by LiteLLM from the config directory, next to the key hook (ccprov_auth.py):
`litellm_settings.callbacks: [ccprov_usage.usage_logger]` (LiteLLM 1.106.2
proxy/types_utils/utils.py, get_instance_fn: `<module>.<instance>` is looked up as
<config dir>/<module>.py; proxy/common_utils/callback_utils.py,
initialize_callbacks_on_proxy, wants a CustomLogger *instance*).

One JSON line per request, success or failure, appended to
`$CCPROV_USAGE_DIR/usage-YYYY-MM-DD.jsonl` (the UTC day the request ended):

    {"ts": "2026-11-30T15:56:20.090Z", "developer": "alice", "model": "devstral",
     "backend": "gpu1:8000", "status": 200, "error": null, "stream": true,
     "input_tokens": 164, "output_tokens": 16, "cached_tokens": 160,
     "ttft_ms": 4.6, "total_ms": 13.6, "session": "e96634a3-..."}

- Only these fields, each taken from a known place of LiteLLM's standard logging payload
  (litellm/types/utils.py, StandardLoggingPayload; built in
  litellm/litellm_core_utils/litellm_logging.py, get_standard_logging_object_payload):
  never the messages, the answer, an error message (it can quote the request), a header
  or a key. `developer` is the user id the key hook set (ccprov_auth.py); null for a
  refused key.
- input_tokens is LiteLLM's prompt_tokens: on /v1/messages that is the backend's
  input_tokens + cache_read_input_tokens + cache_creation_input_tokens, so cached_tokens
  (prompt_tokens_details.cached_tokens, i.e. cache_read_input_tokens) is a share of it.
  vLLM reports cached tokens only with --enable-prompt-tokens-details.
- ttft_ms: from LiteLLM's start of the call to the first chunk (completionStartTime); for
  an answer that is not streamed, the time to the whole answer.
- status: 200, or the error's HTTP code (error_information.error_code) with `error` the
  exception's class name (429 ProxyRateLimitError, 401 ProxyException, ...).
- session: the session LiteLLM read from the request (litellm_params.litellm_session_id:
  an x-<vendor>-session-id header such as Claude Code's X-Claude-Code-Session-Id, or
  metadata.user_id; proxy/litellm_pre_call_utils.py, get_chain_id_from_headers), only if it
  looks like an id (else a short hash of it), else null.
- Each line is one write(2) on a descriptor opened with O_APPEND, so the uvicorn workers
  (each loads its own instance) never interleave lines. New files get mode 0640: the
  directory is setgid to the ops group (the role's litellm_gateway_usage_group), whose
  members read them; retention is a systemd-tmpfiles rule of the role.
- Successes come from async_log_success_event, failures from async_post_call_failure_hook
  (once per request the client saw fail; see there). A stream that breaks after its 200
  (a backend killed or hung mid-answer) is a failure too: LiteLLM's stream generator calls
  the hook when it ends the stream with an error event (proxy/common_request_processing.py,
  async_data_generator), so its line has the error's status and class (500 ReadError,
  500 ReadTimeout), and the backend from the request's metadata when the payload lacks it.
- A write that fails (directory missing, disk full) is logged once until writes work
  again, and never fails the request.
- Refused requests (no developer: a missing, unknown or revoked key) are counted, not
  logged one by one (anyone who reaches the gateway could otherwise fill the disk with
  lines that carry a model and session of their choosing): at most one line per minute and
  (status, error), with `count` and no model, backend or session (REFUSED_FIELDS).
- A day's file stops growing at MAX_FILE_BYTES (logged once); `ccprov usage` skips larger.
- LiteLLM's own body check (proxy/auth/auth_utils.py, is_request_body_safe: api_base,
  model_list, credentials or URL fallbacks in the body) runs in pre_db_read_auth_checks,
  before any key is read, and raises a bare ValueError("Rejected Request: ...").
  auth_exception_handler.py, handle_authentication_error, hands it to this hook with no user,
  then crashes in _as_proxy_exception (PrismaDBExceptionHandler imports prisma, which the
  proxy does not ship): the client got a plain 500, which Claude Code retries, and this log
  said 500 ValueError. The hook now logs it as 400 RequestBodyRejected (counted like other
  refusals: no key was checked, so there is no developer) and returns the 400 LiteLLM means
  (is_request_body_safe's docstring: "a single, predictable failure mode ... (a 400)"), which
  post_call_failure_hook hands back as the client's answer (proxy/utils.py: a callback's
  HTTPException wins). Body checks after the key (models, budgets) keep their developer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

try:
    from litellm.integrations.custom_logger import CustomLogger as _Base
except ImportError:  # the unit tests, which run without LiteLLM
    _Base = object

log = logging.getLogger("ccprov_usage")

DEFAULT_DIR = "/var/log/ccprov-usage"
FILE_MODE = 0o640
FIELDS = (
    "ts",
    "developer",
    "model",
    "backend",
    "status",
    "error",
    "stream",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "ttft_ms",
    "total_ms",
    "session",
)
"""Every field of a line, in order: nothing else is ever written."""
REFUSED_FIELDS = ("ts", "developer", "status", "error", "count")
"""The fields of a line that counts refused requests."""
REFUSED_WINDOW = 60.0
"""Seconds over which refused requests are counted into one line (CCPROV_USAGE_REFUSED_WINDOW
overrides it: 0 writes each as its own counted line)."""
MAX_FILE_BYTES = 256 * 1024 * 1024
"""A day's usage file is not written past this (ccprov usage reads up to 512 MiB)."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")
_CLASS = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")
BODY_REJECTED = "RequestBodyRejected"
"""The `error` of a request LiteLLM's own body check refused (status 400)."""


def _body_rejected(exception: Any) -> bool:
    """LiteLLM 1.106.2's body check refusal (proxy/auth/auth_utils.py, is_request_body_safe
    and the checks it calls): a bare ValueError whose text starts "Rejected Request:"."""
    return type(exception) is ValueError and str(exception).startswith("Rejected Request:")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    """A token count: a non-negative int, else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value >= 0:
        return int(value)
    return 0


def _seconds(value: Any) -> float | None:
    """An epoch time (float seconds) or a datetime, as float seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return None


def _name(value: Any) -> str | None:
    """A model or developer name as logged: plain characters only, else dropped."""
    if isinstance(value, str) and _NAME.fullmatch(value):
        return value
    return None


def _session(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if _ID.fullmatch(value):
        return value
    import hashlib

    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:16]


def _backend(api_base: Any) -> str | None:
    """host:port of the URL LiteLLM sent the request to (no path, no credentials): the
    name the front's /metrics/vllm/<host:port> uses too (plugins/filter/network.py)."""
    if not isinstance(api_base, str) or not api_base:
        return None
    try:
        parts = urlsplit(api_base)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    port = port or {"http": 80, "https": 443}.get(parts.scheme)
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _status(payload: Mapping[str, Any], exception: Any, ok: bool) -> tuple[int, str | None]:
    if ok:
        return 200, None
    if _body_rejected(exception):
        return 400, BODY_REJECTED
    info = _mapping(payload.get("error_information"))
    code: Any = info.get("error_code")
    if not (isinstance(code, str) and code.isdigit()):
        code = getattr(exception, "status_code", None) or getattr(exception, "code", None)
    try:
        status = int(code)
    except (TypeError, ValueError):
        status = 500
    if not 100 <= status <= 599:
        status = 500
    error = info.get("error_class") or (type(exception).__name__ if exception else None)
    return status, (error if isinstance(error, str) and _CLASS.fullmatch(error) else "error")


def _cached_tokens(payload: Mapping[str, Any]) -> int:
    """Prompt tokens served from the backend's prefix cache: OpenAI-style
    prompt_tokens_details.cached_tokens, or Anthropic-style cache_read_input_tokens, from
    the usage object LiteLLM keeps in the payload's metadata."""
    usage = _mapping(_mapping(payload.get("metadata")).get("usage_object"))
    if not usage:
        usage = _mapping(_mapping(payload.get("hidden_params")).get("usage_object"))
    details = _mapping(usage.get("prompt_tokens_details"))
    return _count(details.get("cached_tokens")) or _count(usage.get("cache_read_input_tokens"))


def _iso(seconds: float) -> str:
    when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def record(kwargs: Mapping[str, Any], start_time: Any, end_time: Any, ok: bool) -> dict[str, Any]:
    """The line for one request, from the kwargs LiteLLM passes to a CustomLogger."""
    payload = _mapping(kwargs.get("standard_logging_object"))
    params = _mapping(kwargs.get("litellm_params"))
    developer = _name(_mapping(payload.get("metadata")).get("user_api_key_user_id")) or _name(
        _mapping(params.get("metadata")).get("user_api_key_user_id")
    )
    start = _seconds(payload.get("startTime")) or _seconds(start_time)
    end = _seconds(payload.get("endTime")) or _seconds(end_time)
    first = _seconds(payload.get("completionStartTime"))
    if end is None:
        end = dt.datetime.now(dt.UTC).timestamp()
    status, error = _status(payload, kwargs.get("exception"), ok)
    hidden = _mapping(payload.get("hidden_params"))
    stream = payload.get("stream")
    if not isinstance(stream, bool):
        stream = kwargs.get("stream") is True
    return {
        "ts": _iso(end),
        "developer": developer,
        "model": _name(payload.get("model_group")) or _name(kwargs.get("model")),
        "backend": _backend(payload.get("api_base"))
        or _backend(hidden.get("api_base"))
        or _backend(_mapping(params.get("metadata")).get("api_base")),
        "status": status,
        "error": error,
        "stream": stream,
        "input_tokens": _count(payload.get("prompt_tokens")),
        "output_tokens": _count(payload.get("completion_tokens")),
        "cached_tokens": _cached_tokens(payload),
        "ttft_ms": round((first - start) * 1000, 1) if ok and first and start else None,
        "total_ms": round((end - start) * 1000, 1) if start else None,
        "session": _session(params.get("litellm_session_id")),
    }


class UsageLogger(_Base):  # type: ignore[misc]  # LiteLLM's CustomLogger (untyped here)
    """Appends one line per request; see the module's docstring."""

    def __init__(self, directory: str | None = None) -> None:
        if _Base is not object:
            # Our copy of the payload comes with the messages and the answer redacted
            # (custom_logger.py, redact_standard_logging_payload_from_model_call_details):
            # they are never read here either way.
            super().__init__(turn_off_message_logging=True)
        self.directory = directory or os.environ.get("CCPROV_USAGE_DIR") or DEFAULT_DIR
        self._failing: str | None = None
        self._lock = threading.Lock()
        self._refused: dict[tuple[int, str | None], int] = {}
        self._refused_since = 0.0
        try:
            window = float(os.environ.get("CCPROV_USAGE_REFUSED_WINDOW", REFUSED_WINDOW))
        except ValueError:
            window = REFUSED_WINDOW
        self.refused_window = max(window, 0.0)

    def path_for(self, ts: str) -> str:
        return os.path.join(self.directory, f"usage-{ts[:10]}.jsonl")

    def write(self, line: dict[str, Any]) -> bool:
        data = (json.dumps(line, separators=(",", ":"), ensure_ascii=True) + "\n").encode()
        path = self.path_for(line["ts"])
        try:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            fd = os.open(path, flags, FILE_MODE)
            try:
                # The service's umask (0077) takes the group's read bit off a new file.
                st = os.fstat(fd)
                if stat.S_IMODE(st.st_mode) != FILE_MODE:
                    os.fchmod(fd, FILE_MODE)
                if st.st_size + len(data) > MAX_FILE_BYTES:
                    raise OSError(f"the day's file is full ({MAX_FILE_BYTES} bytes)")
                written = os.write(fd, data)
            finally:
                os.close(fd)
            if written != len(data):
                raise OSError(f"short write ({written} of {len(data)} bytes)")
        except OSError as exc:
            problem = f"{path}: {exc.strerror or exc}"
            with self._lock:
                first, self._failing = self._failing is None, problem
            if first:
                log.error(
                    "ccprov usage log: cannot write %s; requests go on unlogged until it works",
                    problem,
                )
            return False
        if self._failing is not None:
            with self._lock:
                self._failing = None
            log.warning("ccprov usage log: writing to %s works again", path)
        return True

    def _log(self, kwargs: Any, start_time: Any, end_time: Any, ok: bool) -> None:
        try:
            line = record(_mapping(kwargs), start_time, end_time, ok)
            if line["developer"] is None and not ok:
                self.count_refused(line["status"], line["error"])
            else:
                self.write(line)
            self.flush_refused()
        except Exception:  # never fail a request over its usage line
            log.exception("ccprov usage log: could not build a usage line")

    def count_refused(self, status: int, error: str | None) -> None:
        with self._lock:
            if not self._refused:
                self._refused_since = time.monotonic()
            self._refused[(status, error)] = self._refused.get((status, error), 0) + 1

    def flush_refused(self, force: bool = False) -> None:
        """One line per (status, error) once the window is over (or FORCE)."""
        with self._lock:
            if not self._refused or (
                not force and time.monotonic() - self._refused_since < self.refused_window
            ):
                return
            counted, self._refused = self._refused, {}
        ts = _iso(dt.datetime.now(dt.UTC).timestamp())
        for (status, error), count in sorted(counted.items(), key=str):
            self.write(
                {"ts": ts, "developer": None, "status": status, "error": error, "count": count}
            )

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """Once per answered request; a stream once it is complete
        (litellm_logging.py, Logging.async_success_handler)."""
        self._log(kwargs, start_time, end_time, ok=True)

    async def async_post_call_failure_hook(
        self,
        request_data: Any,
        original_exception: Any,
        user_api_key_dict: Any,
        traceback_str: Any = None,
    ) -> Any:
        """Once per request that failed for the client (proxy/utils.py,
        ProxyLogging.post_call_failure_hook): refused keys, rate limits, unknown models,
        backends failing after the router's retries. Not async_log_failure_event: that one
        also fires for each attempt the router retried on another backend and then answered
        (seen with one of two backends down: a failure event, then the success)."""
        data = _mapping(request_data)
        metadata = _mapping(data.get("metadata")) or _mapping(data.get("litellm_metadata"))
        user = getattr(user_api_key_dict, "user_id", None)
        kwargs = {
            "standard_logging_object": data.get("standard_logging_object"),
            "litellm_params": {
                # The body's litellm_session_id, else what the proxy put in the metadata
                # from the session header (litellm_pre_call_utils.py, metadata_from_headers).
                "litellm_session_id": data.get("litellm_session_id") or metadata.get("session_id"),
                "metadata": {**metadata, "user_api_key_user_id": user} if user else metadata,
            },
            "exception": original_exception,
            "model": data.get("model"),
            "stream": data.get("stream"),
        }
        self._log(kwargs, data.get("start_time"), None, ok=False)
        if _body_rejected(original_exception):
            return _client_error(400, str(original_exception))
        return None


def _client_error(status: int, message: str) -> Any:
    """The answer the client gets instead (fastapi's HTTPException, which LiteLLM's
    post_call_failure_hook and _as_proxy_exception turn into its JSON error)."""
    try:
        # LiteLLM's own dependency, in the gateway's venv only (like litellm.* above).
        from fastapi import HTTPException  # type: ignore[import-not-found]
    except ImportError:  # the unit tests, which run without LiteLLM
        return None
    return HTTPException(status_code=status, detail=message)


usage_logger = UsageLogger()
"""The instance litellm_settings.callbacks names (ccprov_usage.usage_logger)."""
