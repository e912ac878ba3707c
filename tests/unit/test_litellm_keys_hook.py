"""The gateway's per-developer key check (roles/litellm_gateway/files/ccprov_auth.py)."""

from __future__ import annotations

import hashlib
import logging
import os
import time

import pytest

from tests.conftest import REPO, load_file

auth = load_file("ccprov_auth", REPO / "roles/litellm_gateway/files/ccprov_auth.py")

ALICE = "sk-ccprov-alice-0123456789abcdef"
BOB = "sk-ccprov-bob-0123456789abcdef"
MASTER = "sk-master-0123456789"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write(path, text: str | bytes) -> None:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    # Make sure the change is seen even within one mtime tick.
    stamp = time.time_ns() + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def rewrite_in_place_same_mtime(path, text: str) -> None:
    """Rewrite the file (same inode) and put its old mtime back: a second write within the
    same timestamp tick, as a fast `ccprov keys revoke` after an add would be."""
    before = os.stat(path)
    with open(path, "r+", encoding="utf-8") as handle:
        handle.seek(0)
        handle.write(text)
        handle.truncate()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns


def good_text(alice_disabled: bool = False) -> str:
    flag = ", disabled: true" if alice_disabled else ", disabled: false"
    return (
        f"developers:\n  alice: {{sha256: {sha(ALICE)}{flag}}}\n"
        f"  bob: {{sha256: {sha(BOB)}, disabled: true}}\n"
    )


@pytest.fixture
def store(tmp_path):
    keys = tmp_path / "keys.yaml"
    write(
        keys,
        f"developers:\n  alice: {{sha256: {sha(ALICE)}}}\n"
        f"  bob: {{sha256: {sha(BOB)}, disabled: true}}\n",
    )
    return auth.KeyStore(path=str(keys), master_key=MASTER)


def test_good_key_gives_the_developers_name(store) -> None:
    assert store.check(ALICE).user == "alice"


def test_master_key_still_works_for_ops(store) -> None:
    assert store.check(MASTER).master and store.check(MASTER).user == auth.MASTER_USER


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "No API key"),
        ("", "No API key"),
        ("sk-not-a-key", "Unknown API key"),
        (BOB, "The key of 'bob' was revoked"),
    ],
)
def test_refusals_say_which(store, key, message) -> None:
    verdict = store.check(key)
    assert verdict.user is None and verdict.error.startswith(message)
    if key:
        assert key not in verdict.error


def test_bearer_and_x_api_key_forms() -> None:
    assert auth.key_from_headers({"authorization": f"Bearer {ALICE}"}, None) == ALICE
    assert auth.key_from_headers({"x-api-key": ALICE}, None) == ALICE
    assert auth.key_from_headers({}, None) is None


def test_revoke_takes_effect_without_restart(store, tmp_path) -> None:
    assert store.check(ALICE).user == "alice"
    write(
        tmp_path / "keys.yaml", f"developers:\n  alice: {{sha256: {sha(ALICE)}, disabled: true}}\n"
    )
    assert "revoked" in store.check(ALICE).error


def test_malformed_file_keeps_the_last_good_set(store, tmp_path, caplog) -> None:
    assert store.check(ALICE).user == "alice"
    write(tmp_path / "keys.yaml", "developers:\n  alice: {sha256: not-a-hash}\n")
    assert store.check(ALICE).user == "alice"
    assert "refused, keeping the last good set" in caplog.text
    assert ALICE not in caplog.text


def test_validate_entry_point(tmp_path) -> None:
    import subprocess
    import sys

    good = tmp_path / "good.yaml"
    good.write_text(f"developers:\n  alice: {{sha256: {sha(ALICE)}}}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("developers: [alice]\n")
    script = str(REPO / "roles/litellm_gateway/files/ccprov_auth.py")
    assert subprocess.run([sys.executable, script, str(good)]).returncode == 0
    proc = subprocess.run([sys.executable, script, str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "must be a mapping" in proc.stderr


def test_revoke_within_the_same_second_takes_effect(store, tmp_path) -> None:
    keys = tmp_path / "keys.yaml"
    assert store.check(ALICE).user == "alice"
    # In place (same inode), same mtime: the size tells them apart.
    rewrite_in_place_same_mtime(keys, good_text().replace(", disabled: false", ""))
    assert store.check(ALICE).user == "alice"
    rewrite_in_place_same_mtime(keys, good_text(alice_disabled=True))
    assert "revoked" in store.check(ALICE).error


def test_a_rewrite_with_the_same_size_and_mtime_is_seen_by_its_ctime(store, tmp_path) -> None:
    keys = tmp_path / "keys.yaml"
    assert store.check(ALICE).user == "alice"
    time.sleep(0.05)  # past the kernel's coarse timestamp tick
    # "disabled: false" -> "disabled: true " : same size, same inode, same mtime.
    rewrite_in_place_same_mtime(keys, good_text(alice_disabled=True) + " ")
    assert os.stat(keys).st_size == len(good_text())
    assert "revoked" in store.check(ALICE).error


def test_revoke_by_rename_with_the_same_mtime_takes_effect(store, tmp_path) -> None:
    keys = tmp_path / "keys.yaml"
    assert store.check(ALICE).user == "alice"
    before = os.stat(keys)
    fresh = tmp_path / "keys.yaml.new"
    fresh.write_text(good_text(alice_disabled=True))
    os.utime(fresh, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(fresh, keys)  # what Ansible's template does: a new inode
    assert "revoked" in store.check(ALICE).error


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"developers:\n  alice: {sha256: \xff\xfe}\n", "not UTF-8"),
        (b"developers: [unclosed\n", "not valid YAML"),
        (b"- just\n- a list\n", "must be a mapping"),
        (b"developers:\n  alice: {sha256: 0123}\n", "no valid sha256"),
        (b"developers:\n  alice: {sha256: " + b"a" * 64 + b", disabled: maybe}\n", "disabled"),
        (
            b"developers:\n  carol: {sha256: "
            + b"a" * 64
            + b"}\n  carol: {sha256: "
            + b"b" * 64
            + b"}\n",
            "duplicate key 'carol'",
        ),
        (b"!!python/object/apply:os.system [echo]\n", "not valid YAML"),
    ],
)
def test_a_broken_file_keeps_the_last_good_set_and_logs_why(
    store, tmp_path, caplog, content, reason
) -> None:
    caplog.set_level(logging.INFO, logger="ccprov_auth")
    assert store.check(ALICE).user == "alice"
    write(tmp_path / "keys.yaml", content)
    caplog.clear()
    assert store.check(ALICE).user == "alice"
    assert "revoked" in store.check(BOB).error
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1, caplog.text  # once, not once per request
    assert reason in refusals[0].getMessage()
    assert ALICE not in caplog.text and sha(ALICE)[:16] not in caplog.text
    # Fixing the file is picked up again.
    write(tmp_path / "keys.yaml", good_text(alice_disabled=True))
    assert "revoked" in store.check(ALICE).error


def test_a_broken_file_first_means_no_developers_but_the_master_key_works(tmp_path, caplog):
    keys = tmp_path / "keys.yaml"
    write(keys, b"\xff\xfe not yaml")
    store = auth.KeyStore(path=str(keys), master_key=MASTER)
    assert store.check(ALICE).error.startswith("Unknown API key")
    assert store.check(MASTER).master and store.check(MASTER).user == auth.MASTER_USER
    assert "not UTF-8" in caplog.text and "no developer key is accepted" in caplog.text


def test_yaml_bomb_is_refused(store, tmp_path, caplog) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    lines.append("developers: {alice: {sha256: " + "a" * 64 + "}}")
    assert store.check(ALICE).user == "alice"
    write(tmp_path / "keys.yaml", "\n".join(lines) + "\n")
    assert store.check(ALICE).user == "alice"  # the last good set
    assert "aliases (*name) are not allowed" in caplog.text


@pytest.mark.parametrize("depth", [50, 100_000])
def test_deep_nesting_is_refused(store, tmp_path, caplog, depth) -> None:
    assert store.check(ALICE).user == "alice"
    write(tmp_path / "keys.yaml", "developers: " + "[" * depth + "]" * depth + "\n")
    assert store.check(ALICE).user == "alice"
    assert "levels deep" in caplog.text


def test_a_too_large_file_is_refused(store, tmp_path, caplog) -> None:
    filler = "# " + "x" * 1000 + "\n"
    assert store.check(ALICE).user == "alice"
    write(tmp_path / "keys.yaml", good_text(alice_disabled=True) + filler * 1100)
    assert store.check(ALICE).user == "alice"
    assert "too large" in caplog.text


def test_an_unreadable_file_keeps_the_last_good_set(store, tmp_path, caplog) -> None:
    keys = tmp_path / "keys.yaml"
    assert store.check(ALICE).user == "alice"
    keys.unlink()
    keys.mkdir()  # open() fails even for root
    assert store.check(ALICE).user == "alice"
    assert "cannot read it" in caplog.text


def test_a_missing_file_is_logged_once_and_keeps_the_last_good_set(store, tmp_path, caplog):
    keys = tmp_path / "keys.yaml"
    assert store.check(ALICE).user == "alice"
    keys.unlink()
    for _ in range(3):
        assert store.check(ALICE).user == "alice"
    missing = [r for r in caplog.records if "missing" in r.getMessage()]
    assert len(missing) == 1 and "keeping the last good set" in missing[0].getMessage()
    write(keys, good_text(alice_disabled=True))
    assert "revoked" in store.check(ALICE).error


def test_no_file_at_all_means_no_developers_logged_once(tmp_path, caplog) -> None:
    store = auth.KeyStore(path=str(tmp_path / "absent.yaml"), master_key=MASTER)
    for _ in range(3):
        assert store.check(ALICE).error.startswith("Unknown API key")
    assert store.check(MASTER).master and store.check(MASTER).user == auth.MASTER_USER
    missing = [r for r in caplog.records if "missing" in r.getMessage()]
    assert len(missing) == 1 and "no developer key is accepted" in missing[0].getMessage()


# --- Route allowlist and per-developer limits (issue #17) ------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/messages"),
        ("post", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
    ],
)
def test_a_developer_key_reaches_the_client_api(method, path) -> None:
    assert auth.route_allowed(False, method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/model/info"),
        ("GET", "/health"),
        ("GET", "/health/liveliness"),
        ("POST", "/key/generate"),
        ("GET", "/debug/asyncio-tasks"),
        ("GET", "/v1/messages"),
        ("POST", "/v1/models"),
        ("POST", "/v1/messages/"),
        ("POST", "/v1/messages/batches"),
        ("POST", "/messages"),  # LiteLLM's unprefixed aliases: refused, exact paths only
        ("POST", "/chat/completions"),
        ("GET", "/models"),
        ("POST", "/v1/embeddings"),
    ],
)
def test_a_developer_key_is_refused_elsewhere(method, path) -> None:
    assert not auth.route_allowed(False, method, path)
    message = auth.route_refused_message("alice", method, path)
    assert f"'alice' may not use {method.upper()} {path}" in message
    assert "POST /v1/messages" in message and "master key" in message


@pytest.mark.parametrize("path", ["/model/info", "/key/generate", "/health", "/v1/messages"])
def test_the_master_key_reaches_every_route(path) -> None:
    assert auth.route_allowed(True, "POST", path)


class FakeRequest:
    def __init__(
        self, key: str, method: str, path: str, root_path: str = "", body: dict | None = None
    ) -> None:
        self.body = body or {}
        self.headers = {"authorization": f"Bearer {key}"}
        self.method = method
        self.scope = {"path": path, "root_path": root_path}
        self.url = type("URL", (), {"path": path})()


@pytest.mark.parametrize(
    ("scope_path", "root", "route"),
    [
        ("/v1/messages", "", "/v1/messages"),
        ("/genai/v1/messages", "/genai", "/v1/messages"),
        ("/genaix/v1/messages", "/genai", "/genaix/v1/messages"),
    ],
)
def test_the_route_is_the_scope_path_without_the_root_path(scope_path, root, route) -> None:
    assert auth.request_route(FakeRequest(ALICE, "POST", scope_path, root)) == route


@pytest.fixture
def fake_litellm(monkeypatch):
    """Stand-ins for litellm.proxy._types (the real one is checked end to end)."""
    import sys
    import types

    class ProxyException(Exception):
        def __init__(self, message, type, param, code):
            super().__init__(message)
            self.message, self.type, self.param, self.code = message, type, param, code

    class UserAPIKeyAuth:
        def __init__(self, **fields):
            self.__dict__.update(fields)

    module = types.ModuleType("litellm.proxy._types")
    module.ProxyException = ProxyException
    module.UserAPIKeyAuth = UserAPIKeyAuth
    parsing = types.ModuleType("litellm.proxy.common_utils.http_parsing_utils")

    async def _read_request_body(request):  # LiteLLM's, which caches the parsed body
        return request.body

    parsing._read_request_body = _read_request_body
    for name in ("litellm", "litellm.proxy", "litellm.proxy.common_utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "litellm.proxy._types", module)
    monkeypatch.setitem(sys.modules, parsing.__name__, parsing)
    return module


@pytest.fixture
def limited_store(tmp_path, monkeypatch):
    keys = tmp_path / "keys.yaml"
    write(
        keys,
        f"developers:\n  alice: {{sha256: {sha(ALICE)}, rpm: 2, max_parallel: 1}}\n"
        f"  bob: {{sha256: {sha(BOB)}}}\n"
        f"  carol: {{sha256: {sha('sk-carol-0123456789')}, rpm: 0}}\n",
    )
    store = auth.KeyStore(path=str(keys), master_key=MASTER)
    monkeypatch.setattr(auth, "_STORE", store)
    return store


def run_hook(key: str, method: str, path: str, body: dict | None = None):
    import asyncio

    return asyncio.run(auth.user_api_key_auth(FakeRequest(key, method, path, body=body), ""))


def test_the_hook_puts_the_limits_on_the_user_api_key_auth(fake_litellm, limited_store) -> None:
    alice = run_hook(ALICE, "POST", "/v1/messages")
    assert (alice.user_id, alice.api_key) == ("alice", "ccprov-alice")
    assert (alice.rpm_limit, alice.max_parallel_requests) == (2, 1)
    bob = run_hook(BOB, "GET", "/v1/models")
    assert (bob.rpm_limit, bob.max_parallel_requests) == (None, None)
    carol = run_hook("sk-carol-0123456789", "POST", "/v1/chat/completions")
    assert carol.rpm_limit is None  # 0: unlimited
    ops = run_hook(MASTER, "GET", "/model/info")
    assert (ops.user_id, ops.rpm_limit, ops.max_parallel_requests) == (
        auth.MASTER_USER,
        None,
        None,
    )


def test_the_hook_answers_403_off_the_client_api(fake_litellm, limited_store) -> None:
    with pytest.raises(fake_litellm.ProxyException) as refused:
        run_hook(ALICE, "POST", "/key/generate")
    assert refused.value.code == 403 and refused.value.type == "auth_error"
    assert "Developer key of 'alice' may not use POST /key/generate" in refused.value.message
    assert ALICE not in refused.value.message
    with pytest.raises(fake_litellm.ProxyException) as unknown:
        run_hook("sk-nobody-0123456789", "POST", "/key/generate")
    assert unknown.value.code == 401  # who first, then where


@pytest.mark.parametrize(
    "fields",
    ["rpm: -1", "rpm: '30'", "rpm: 1.5", "max_parallel: true", "max_parallel: [2]"],
)
def test_a_bad_limit_is_refused(tmp_path, fields) -> None:
    with pytest.raises(auth.KeysFileError, match="whole number >= 0"):
        auth.parse_keys(f"developers:\n  alice: {{sha256: {sha(ALICE)}, {fields}}}\n".encode())


# --- Roles, not names (issue #28 finding 3) ------------------------------------------------


@pytest.mark.parametrize("name", sorted(auth.RESERVED))
def test_a_developer_named_like_the_master_key_is_refused(tmp_path, name) -> None:
    """Before: `ccprov keys add ops` was accepted and that key got the master key's routes
    (/model/info, /settings, /routes, /debug/...), logged as the master key."""
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"developers:\n  {name}: {{sha256: {sha(ALICE)}}}\n")
    with pytest.raises(auth.KeysFileError, match="reserved"):
        auth.parse_keys_file(str(keys))
    store = auth.KeyStore(path=str(keys), master_key=MASTER)
    assert store.check(ALICE).user is None  # the file is refused: no such developer


def test_a_developer_key_never_has_the_master_role_whatever_its_name(tmp_path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"developers:\n  ops-team: {{sha256: {sha(ALICE)}}}\n")
    verdict = auth.KeyStore(path=str(keys), master_key=MASTER).check(ALICE)
    assert (verdict.user, verdict.master) == ("ops-team", False)
    assert not auth.route_allowed(verdict.master, "GET", "/model/info")
    # The master key's user id is not a name any developer can have.
    assert not auth.NAME.match(auth.MASTER_USER)


@pytest.mark.parametrize("name", ["Alice", "alice smith", "../x", "a\u001b[2J"])
def test_names_outside_the_cli_rules_are_refused(tmp_path, name) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(yaml_dump_developers(name))
    with pytest.raises(auth.KeysFileError, match="is not a name"):
        auth.parse_keys_file(str(keys))


def yaml_dump_developers(name: str) -> str:
    import yaml

    return yaml.safe_dump({"developers": {name: {"sha256": sha(ALICE)}}})


def test_the_cli_and_the_hook_agree_on_names() -> None:
    from ccprov.gateway import keys as cli_keys

    assert cli_keys.RESERVED == auth.RESERVED
    assert cli_keys.NAME.pattern == auth.NAME.pattern


# --- Per-developer models (issue #28 finding 8) -------------------------------------------


@pytest.fixture
def models_store(tmp_path, monkeypatch):
    keys = tmp_path / "keys.yaml"
    write(
        keys,
        f"developers:\n  alice: {{sha256: {sha(ALICE)}, models: [devstral]}}\n"
        f"  bob: {{sha256: {sha(BOB)}, models: [devstral, claude-cloud]}}\n",
    )
    monkeypatch.setattr(auth, "_STORE", auth.KeyStore(path=str(keys), master_key=MASTER))


@pytest.mark.parametrize(
    "path", ["/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions"]
)
@pytest.mark.parametrize("model", ["claude-cloud", "hosted_vllm/devstral", "anthropic/claude", 7])
def test_a_developer_reaches_only_the_models_granted(fake_litellm, models_store, path, model):
    """Before: every key reached every model_list entry (a cloud extra model: prompts leave
    the network) and a provider-prefixed name went straight to a provider."""
    with pytest.raises(fake_litellm.ProxyException) as refused:
        run_hook(ALICE, "POST", path, {"model": model})
    assert refused.value.code == 403 and refused.value.param == "model"
    assert "may not use model" in refused.value.message and "devstral" in refused.value.message
    assert run_hook(ALICE, "POST", path, {"model": "devstral"}).user_id == "alice"


def test_a_granted_extra_model_and_the_master_key_pass(fake_litellm, models_store) -> None:
    assert run_hook(BOB, "POST", "/v1/messages", {"model": "claude-cloud"}).user_id == "bob"
    master = run_hook(MASTER, "POST", "/v1/messages", {"model": "anything/at-all"})
    assert master.user_id == auth.MASTER_USER


def test_a_body_without_a_model_is_left_to_litellm(fake_litellm, models_store) -> None:
    """Nothing can be routed without a model: LiteLLM answers its own 400 (the route
    sweeps post `{}` everywhere and count that as the route answering)."""
    assert run_hook(ALICE, "POST", "/v1/messages", {}).user_id == "alice"


def test_models_must_be_a_list_of_names(tmp_path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"developers:\n  alice: {{sha256: {sha(ALICE)}, models: devstral}}\n")
    with pytest.raises(auth.KeysFileError, match="`models` must be a list"):
        auth.parse_keys_file(str(keys))
