"""Per-developer keys for the LiteLLM gateway, without a database (custom_auth hook).

LiteLLM's own virtual keys need its Postgres mode; this hook needs only a file of SHA-256
hashes (CCPROV_KEYS_FILE, rendered by the litellm_gateway role):

    developers:
      alice: {sha256: <64 hex>, created: "2026-11-24"}
      bob:   {sha256: <64 hex>, created: "2026-11-24", disabled: true}
      carol: {sha256: <64 hex>, rpm: 30, max_parallel: 2, models: [devstral, claude-cloud]}

- A key comes as `Authorization: Bearer <key>` or `x-api-key: <key>`.
- Hashes are compared in constant time; plain keys are never stored, logged or echoed.
- The file is re-read when it changes (inode, size, mtime or ctime), so a revoke needs no
  restart, even one written within the same second. A broken file (unreadable, not UTF-8,
  not YAML, wrong shape, over 1 MiB, aliases or deep nesting) is refused and the last good
  set stays in force; a missing file keeps it too, or, with none yet, means no developers.
  Each change of state is logged once (never a key or a hash).
- The master key (LITELLM_MASTER_KEY) still works, for ops, on every route (admin API). It
  is a role the hook sets (`Verdict.master`), never a name: its requests carry the user id
  MASTER_USER, which no developer name can spell (names are NAME: lowercase letters,
  digits, . _ -), and RESERVED names are refused in the keys file as in `ccprov keys add`.
- Unknown, revoked or missing keys get 401 with a message that says which.
- A developer key reaches only the client API (DEVELOPER_ROUTES: exact paths, query
  ignored); any other route gets 403. LiteLLM's unprefixed aliases (/messages,
  /chat/completions, /models) are refused too: Claude Code and OpenCode use /v1/..., and
  an exact list is the one a reverse proxy in front can mirror.
- `rpm` (requests per minute) and `max_parallel` (concurrent requests) of an entry go on
  the UserAPIKeyAuth as rpm_limit / max_parallel_requests, so LiteLLM's own limiter
  answers 429 to that developer only. Absent or 0: unlimited.
- `models`: the model names the developer's requests may name (the role writes the local
  model's alias unless the inventory grants more). Any other name, a provider-prefixed one
  (`hosted_vllm/devstral`) included, gets 403 before routing. Absent (a keys file written by
  hand, or before this field): any model.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
from typing import Any

log = logging.getLogger("ccprov_auth")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
"""A developer name (as NAME in src/ccprov/gateway/keys.py): LiteLLM's user id and a label."""
RESERVED = frozenset({"ops", "admin", "root", "master", "litellm", "default_user_id"})
"""Names a reader could take for the master key or LiteLLM's own users: never a developer."""
MASTER_USER = "(master key)"
"""The user id of the master key's requests (usage log, metrics): not a possible NAME."""


class KeysFileError(ValueError):
    pass


MAX_BYTES = 1024 * 1024
"""A keys file larger than this is refused (a few thousand developers fit in 1 MiB)."""
MAX_DEPTH = 10
"""developers -> name -> fields is 3 levels deep; anything much deeper is not a keys file."""


# Plain classes, not dataclasses: LiteLLM imports this file without registering it in
# sys.modules, which dataclasses need.
class Verdict:
    def __init__(
        self,
        user: str | None,
        error: str | None = None,
        rpm: int | None = None,
        max_parallel: int | None = None,
        master: bool = False,
        models: frozenset[str] | None = None,
    ) -> None:
        self.user = user
        self.master = master
        self.models = models  # None: any model
        self.error = error
        self.rpm = rpm
        self.max_parallel = max_parallel


MODEL_ROUTES = frozenset(
    {
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/chat/completions"),
    }
)
"""The client routes whose body names a model (checked against the developer's `models`)."""

DEVELOPER_ROUTES = frozenset(
    {
        ("POST", "/v1/messages"),  # Claude Code (also with ?beta=true: the query is ignored)
        ("POST", "/v1/messages/count_tokens"),  # Claude Code
        ("GET", "/v1/models"),  # ccprov probe, OpenCode
        ("POST", "/v1/chat/completions"),  # OpenCode, Mistral Vibe
    }
)
"""What a developer key may reach: exact (method, path), without LiteLLM's unprefixed aliases.
Health checks need no developer key: the role's own checks use no key (/health/liveliness,
/health/readiness) or the master key (smoke test)."""


def route_allowed(master: bool, method: str, path: str) -> bool:
    """The master key reaches everything; a developer key only DEVELOPER_ROUTES."""
    return master or (method.upper(), path) in DEVELOPER_ROUTES


def model_refused_message(verdict: Verdict, model: Any) -> str | None:
    """Why VERDICT's developer may not name MODEL, or None if they may."""
    if verdict.master or verdict.models is None:
        return None
    if model is None:
        # No model named: nothing can be routed, and LiteLLM answers its own 400.
        return None
    if isinstance(model, str) and model in verdict.models:
        return None
    allowed = ", ".join(sorted(verdict.models)) or "none"
    shown = str(model)[:80] if isinstance(model, str) else "no model"
    return (
        f"Developer key of '{verdict.user}' may not use model '{shown}': its models are "
        f"{allowed} (ops grant more in litellm_gateway_developer_keys)."
    )


def route_refused_message(user: str, method: str, path: str) -> str:
    allowed = ", ".join(f"{m} {p}" for m, p in sorted(DEVELOPER_ROUTES, key=lambda r: r[1]))
    return (
        f"Developer key of '{user}' may not use {method.upper()} {path[:200]}: developer keys "
        f"reach only the client API ({allowed}); the admin API needs the master key."
    )


def _limit(value: Any) -> int | None:
    """A limit from the keys file: a positive int, or None (absent or 0: unlimited)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


_MISSING = ("missing",)


class KeyStore:
    def __init__(self, path: str, master_key: str = "") -> None:
        self.path = path
        self.master_key = master_key
        # What the file looked like when last read: (inode, size, mtime ns, ctime ns), so a
        # rewrite within one mtime tick is still seen. None: never looked yet.
        self._signature: tuple[Any, ...] | None = None
        self._developers: dict[str, dict[str, Any]] = {}
        self._loaded = False  # a good set was read at least once
        self._lock = threading.Lock()

    def _stat_signature(self) -> tuple[Any, ...]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return _MISSING
        except OSError as exc:
            return ("error", exc.errno)
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _load(self) -> None:
        """Re-read the file when it changed; keep the last good set if it is broken."""
        signature = self._stat_signature()
        if signature == self._signature:
            return
        with self._lock:
            signature = self._stat_signature()
            if signature == self._signature:
                return
            if signature == _MISSING:
                # Logged once per change of state: the signature stays _MISSING until the
                # file comes back.
                if self._loaded:
                    log.warning(
                        "ccprov keys file %s is missing, keeping the last good set", self.path
                    )
                else:
                    log.warning(
                        "ccprov keys file %s is missing: no developer key is accepted"
                        " (the master key still is)",
                        self.path,
                    )
                self._signature = signature
                return
            try:
                developers, signature = _read_keys_file(self.path)
            except KeysFileError as exc:
                log.warning(
                    "ccprov keys file %s refused, keeping the last good set%s: %s",
                    self.path,
                    "" if self._loaded else " (none yet: no developer key is accepted)",
                    exc,
                )
            else:
                self._developers = developers
                self._loaded = True
                log.info("ccprov keys file %s loaded: %d developer(s)", self.path, len(developers))
            self._signature = signature

    def check(self, key: str | None) -> Verdict:
        if not key:
            return Verdict(
                None,
                "No API key: send your gateway key as `Authorization: Bearer "
                "<key>` (ANTHROPIC_AUTH_TOKEN, set by `source claude-switch local`).",
            )
        if self.master_key and hmac.compare_digest(key.encode(), self.master_key.encode()):
            return Verdict(MASTER_USER, master=True)
        self._load()
        developers = self._developers  # one consistent set, even if a reload swaps it now
        digest = hashlib.sha256(key.encode()).hexdigest()
        match = None
        for name, entry in developers.items():
            # Compare with every entry, so timing says nothing about which one matched.
            if hmac.compare_digest(digest, str(entry.get("sha256", ""))):
                match = name
        if match is None:
            return Verdict(
                None,
                "Unknown API key: check LOCAL_TOKEN in ~/.claude-backends.env, "
                "or ask ops for your own gateway key.",
            )
        entry = developers[match]
        if entry.get("disabled"):
            return Verdict(None, f"The key of '{match}' was revoked: ask ops for a new one.")
        models = entry.get("models")
        return Verdict(
            match,
            rpm=_limit(entry.get("rpm")),
            max_parallel=_limit(entry.get("max_parallel")),
            models=None if models is None else frozenset(models),
        )


def _read_keys_file(path: str) -> tuple[dict[str, dict[str, Any]], tuple[Any, ...]]:
    """The developers and the signature of what was read (fstat of the open file)."""
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if st.st_size > MAX_BYTES:
                raise KeysFileError(f"too large ({st.st_size} bytes, at most {MAX_BYTES})")
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise KeysFileError(f"cannot read it: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise KeysFileError(f"too large (more than {MAX_BYTES} bytes)")
    return parse_keys(raw), signature


def parse_keys_file(path: str) -> dict[str, dict[str, Any]]:
    return _read_keys_file(path)[0]


def _strict_loader() -> Any:
    """A SafeLoader that refuses aliases (YAML bombs), deep nesting and duplicate keys."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                # types-PyYAML leaves Parser.peek_event unannotated (here: an Event).
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed", event.start_mark
                )
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(
                        None,
                        None,
                        f"nested more than {MAX_DEPTH} levels deep",
                        self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen = set()
            for key_node, _ in node.value:
                key = (key_node.tag, key_node.value) if isinstance(key_node.value, str) else None
                if key is not None and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value[:40]!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _yaml_problem(exc: Exception) -> str:
    """What is wrong and where, without the snippet of the file (it may hold a hash)."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if problem is None:
        return type(exc).__name__
    if mark is None:
        return str(problem)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def parse_keys(raw: bytes) -> dict[str, dict[str, Any]]:
    import yaml

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeysFileError(f"not UTF-8 (bad byte at offset {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_strict_loader())  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise KeysFileError(f"not valid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise KeysFileError(f"nested more than {MAX_DEPTH} levels deep") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KeysFileError("the file must be a mapping with a `developers` key")
    developers = data.get("developers")
    if developers is None:
        return {}
    if not isinstance(developers, dict):
        raise KeysFileError("`developers` must be a mapping of name -> {sha256: ...}")
    for name, entry in developers.items():
        label = str(name)[:40]
        if not isinstance(name, str) or not NAME.match(name):
            raise KeysFileError(
                f"developer name {label!r} is not a name: lowercase letters, digits, . _ -"
            )
        if name in RESERVED:
            raise KeysFileError(f"developer name {label!r} is reserved; choose another")
        if not isinstance(entry, dict) or not _HEX64.match(str(entry.get("sha256", ""))):
            raise KeysFileError(f"developer {label!r} has no valid sha256 (64 lowercase hex)")
        if not isinstance(entry.get("disabled", False), bool):
            raise KeysFileError(f"developer {label!r}: `disabled` must be true or false")
        models = entry.get("models")
        if models is not None and (
            not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)
        ):
            raise KeysFileError(f"developer {label!r}: `models` must be a list of model names")
        for field in ("rpm", "max_parallel"):
            value = entry.get(field, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise KeysFileError(
                    f"developer {label!r}: `{field}` must be a whole number >= 0 (0: unlimited)"
                )
    return developers


def key_from_headers(headers: Any, api_key: str | None) -> str | None:
    """The key as sent: Bearer token or x-api-key (LiteLLM's own extraction as a fallback)."""
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return (headers.get("x-api-key") or "").strip() or (api_key or "").strip() or None


_STORE: KeyStore | None = None


def _store() -> KeyStore:
    global _STORE
    if _STORE is None:
        _STORE = KeyStore(
            path=os.environ.get("CCPROV_KEYS_FILE", "/etc/litellm/keys.yaml"),
            master_key=os.environ.get("LITELLM_MASTER_KEY", ""),
        )
    return _STORE


def request_route(request: Any) -> str:
    """The path FastAPI dispatches on (scope["path"], root_path stripped, no query), as
    LiteLLM's own get_request_route: url.path can be skewed by a malformed Host header."""
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict) or not isinstance(scope.get("path"), str):
        return str(request.url.path)
    path: str = scope["path"]
    root = str(scope.get("app_root_path", scope.get("root_path", "")) or "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
    return path


async def user_api_key_auth(request: Any, api_key: str) -> Any:
    """LiteLLM's custom_auth entry point."""
    from litellm.proxy._types import ProxyException, UserAPIKeyAuth

    verdict = _store().check(key_from_headers(request.headers, api_key))
    if verdict.user is None:
        raise ProxyException(message=verdict.error, type="auth_error", param="api_key", code=401)
    method, path = str(request.method), request_route(request)
    if not route_allowed(verdict.master, method, path):
        raise ProxyException(
            message=route_refused_message(verdict.user, method, path),
            type="auth_error",
            param="api_key",
            code=403,
        )
    if (method.upper(), path) in MODEL_ROUTES and verdict.models is not None:
        from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

        # LiteLLM parses the body once and caches it on the request (the route reads it
        # from there), so reading it here costs nothing more.
        body = await _read_request_body(request)
        refused = model_refused_message(verdict, body.get("model") if body else None)
        if refused is not None:
            raise ProxyException(message=refused, type="auth_error", param="model", code=403)
    # The hash, never the key, becomes LiteLLM's key id; the name becomes the user id.
    key_id = "ops-master-key" if verdict.master else f"ccprov-{verdict.user}"
    return UserAPIKeyAuth(
        api_key=key_id,
        user_id=verdict.user,
        rpm_limit=verdict.rpm,
        max_parallel_requests=verdict.max_parallel,
    )


if __name__ == "__main__":  # `python ccprov_auth.py KEYS_FILE`: the role's validate step
    import sys

    try:
        count = len(parse_keys_file(sys.argv[1]))
    except KeysFileError as exc:
        print(f"{sys.argv[1]}: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"{count} developer key(s)")
