"""Per-developer keys for the LiteLLM gateway, without a database (custom_auth hook).

LiteLLM's own virtual keys need its Postgres mode; this hook needs only a file of SHA-256
hashes (CCPROV_KEYS_FILE, rendered by the litellm_gateway role):

    developers:
      alice: {sha256: <64 hex>, created: "2026-11-24"}
      bob:   {sha256: <64 hex>, created: "2026-11-24", disabled: true}

- A key comes as `Authorization: Bearer <key>` or `x-api-key: <key>`.
- Hashes are compared in constant time; plain keys are never stored, logged or echoed.
- The file is re-read when it changes, so a revoke needs no restart; a malformed file is
  refused and the last good set stays in force (the reason is logged).
- The master key (LITELLM_MASTER_KEY) still works, for ops.
- Unknown, revoked or missing keys get 401 with a message that says which.
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


class KeysFileError(ValueError):
    pass


# Plain classes, not dataclasses: LiteLLM imports this file without registering it in
# sys.modules, which dataclasses need.
class Verdict:
    def __init__(self, user: str | None, error: str | None = None) -> None:
        self.user = user
        self.error = error


class KeyStore:
    def __init__(self, path: str, master_key: str = "") -> None:
        self.path = path
        self.master_key = master_key
        self._mtime: int | None = None
        self._developers: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _load(self) -> None:
        """Re-read the file when it changed; keep the last good set if it is broken."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            mtime = None
        if mtime == self._mtime:
            return
        with self._lock:
            if mtime == self._mtime:
                return
            try:
                self._developers = parse_keys_file(self.path) if mtime is not None else {}
            except KeysFileError as exc:
                log.warning(
                    "ccprov keys file %s refused, keeping the last good set: %s", self.path, exc
                )
            self._mtime = mtime

    def check(self, key: str | None) -> Verdict:
        if not key:
            return Verdict(
                None,
                "No API key: send your gateway key as `Authorization: Bearer "
                "<key>` (ANTHROPIC_AUTH_TOKEN, set by `source claude-switch local`).",
            )
        if self.master_key and hmac.compare_digest(key.encode(), self.master_key.encode()):
            return Verdict("ops")
        self._load()
        digest = hashlib.sha256(key.encode()).hexdigest()
        match = None
        for name, entry in self._developers.items():
            # Compare with every entry, so timing says nothing about which one matched.
            if hmac.compare_digest(digest, str(entry.get("sha256", ""))):
                match = name
        if match is None:
            return Verdict(
                None,
                "Unknown API key: check LOCAL_TOKEN in ~/.claude-backends.env, "
                "or ask ops for your own gateway key.",
            )
        if self._developers[match].get("disabled"):
            return Verdict(None, f"The key of '{match}' was revoked: ask ops for a new one.")
        return Verdict(match)


def parse_keys_file(path: str) -> dict[str, dict[str, Any]]:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise KeysFileError(f"cannot read it: {exc}") from None
    developers = data.get("developers") if isinstance(data, dict) else None
    if developers is None:
        developers = {}
    if not isinstance(developers, dict):
        raise KeysFileError("`developers` must be a mapping of name -> {sha256: ...}")
    for name, entry in developers.items():
        if not isinstance(entry, dict) or not _HEX64.match(str(entry.get("sha256", ""))):
            raise KeysFileError(f"developer {name!r} has no valid sha256 (64 lowercase hex)")
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


async def user_api_key_auth(request: Any, api_key: str) -> Any:
    """LiteLLM's custom_auth entry point."""
    from litellm.proxy._types import ProxyException, UserAPIKeyAuth

    verdict = _store().check(key_from_headers(request.headers, api_key))
    if verdict.user is None:
        raise ProxyException(message=verdict.error, type="auth_error", param="api_key", code=401)
    # The hash, never the key, becomes LiteLLM's key id; the name becomes the user id.
    key_id = "ops-master-key" if verdict.user == "ops" else f"ccprov-{verdict.user}"
    return UserAPIKeyAuth(api_key=key_id, user_id=verdict.user)


if __name__ == "__main__":  # `python ccprov_auth.py KEYS_FILE`: the role's validate step
    import sys

    try:
        count = len(parse_keys_file(sys.argv[1]))
    except KeysFileError as exc:
        print(f"{sys.argv[1]}: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"{count} developer key(s)")
