"""The gateway on a real host: pinned, audited, hardened, answering /v1/messages."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

MASTER = "sk-master-molecule-0123456789abcdef"
# The release the role pins (its defaults, held equal to the lock).
DEFAULTS = Path(__file__).resolve().parents[3] / "defaults/main.yml"
VERSION = yaml.safe_load(DEFAULTS.read_text())["litellm_gateway_version"]


def test_service_active_enabled_and_listening(host) -> None:
    service = host.service("litellm")
    assert service.is_running and service.is_enabled
    # LiteLLM on loopback only: clients reach it through the TLS front (test_front.py).
    assert host.socket("tcp://127.0.0.1:4000").is_listening
    assert not host.socket("tcp://0.0.0.0:4000").is_listening


def test_one_worker_per_cpu_by_default(host) -> None:
    cpus = int(host.check_output("getconf _NPROCESSORS_ONLN"))
    exec_start = host.check_output("systemctl show -p ExecStart --value litellm")
    assert f"--num_workers {min(cpus, 4)} " in exec_start + " "
    # uvicorn's worker processes: the supervisor plus one per worker, all as litellm.
    workers = host.check_output("pgrep -u litellm -c -f 'bin/litellm|multiprocessing'")
    assert int(workers) >= min(cpus, 4)


def test_runs_as_its_own_unprivileged_user(host) -> None:
    user = host.check_output("systemctl show -p User --value litellm")
    assert user == "litellm"
    unit = host.file("/etc/systemd/system/litellm.service").content_string
    for setting in (
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "PrivateTmp=true",
    ):
        assert setting in unit


def test_installed_version_is_the_pin(host) -> None:
    version = host.check_output(
        "/opt/litellm/current/bin/python -c "
        "\"import importlib.metadata as m; print(m.version('litellm'))\""
    )
    assert version == VERSION
    assert host.file("/opt/litellm/current").linked_to == f"/opt/litellm/{VERSION}"


def test_secrets_only_in_the_private_env_file(host) -> None:
    env = host.file("/etc/litellm/litellm.env")
    assert env.mode == 0o600 and env.user == "root"
    assert MASTER in env.content_string
    config = host.file("/etc/litellm/config.yaml")
    assert config.mode == 0o640 and config.group == "litellm"
    assert MASTER not in config.content_string
    assert "os.environ/LITELLM_MASTER_KEY" in config.content_string
    assert MASTER not in host.check_output("journalctl -u litellm --no-pager -o cat || true")


def _messages(host, body: dict, stream: bool = False) -> str:
    payload = json.dumps({**body, "stream": stream}).replace("'", "'\\''")
    return host.check_output(
        "curl -sS -N http://127.0.0.1:4000/v1/messages "
        f"-H 'Authorization: Bearer {MASTER}' -H 'anthropic-version: 2023-06-01' "
        f"-H 'content-type: application/json' -d '{payload}'"
    )


def test_messages_through_the_gateway_return_the_backends_answer(host) -> None:
    body = {
        "model": "devstral",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say PONG"}],
    }
    reply = json.loads(_messages(host, body))
    assert [b["text"] for b in reply["content"] if b["type"] == "text"] == ["PONG"]


def test_streaming_messages(host) -> None:
    body = {
        "model": "devstral",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say STREAMED"}],
    }
    events = _messages(host, body, stream=True)
    assert "event: message_start" in events and "event: message_stop" in events
    text = "".join(
        json.loads(line[5:])["delta"].get("text", "")
        for line in events.splitlines()
        if line.startswith("data:") and '"content_block_delta"' in line
    )
    assert text == "STREAMED"


def test_wrong_key_is_refused(host) -> None:
    code = host.check_output(
        "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:4000/v1/models "
        "-H 'Authorization: Bearer sk-wrong'"
    )
    assert code in ("400", "401", "403")


ALICE = "sk-ccprov-alice-molecule-0123456789"
CAROL = "sk-ccprov-carol-molecule-0123456789"
BOB = "sk-ccprov-bob-molecule-0123456789"


def _models(host, key: str) -> tuple[str, str]:
    out = host.check_output(
        "curl -s -w '\\n%{http_code}' http://127.0.0.1:4000/v1/models "
        f"-H 'Authorization: Bearer {key}'"
    )
    body, _, code = out.rpartition("\n")
    return code, body


def test_each_developer_key_answers(host) -> None:
    assert _models(host, ALICE)[0] == "200"
    assert _models(host, CAROL)[0] == "200"
    code = host.check_output(
        "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:4000/v1/models "
        f"-H 'x-api-key: {CAROL}'"
    )
    assert code == "200"


def test_wrong_and_revoked_keys_get_401_with_the_reason(host) -> None:
    code, body = _models(host, "sk-wrong")
    assert code == "401" and "Unknown API key" in body
    code, body = _models(host, BOB)
    assert code == "401" and "revoked" in body


def test_keys_file_holds_hashes_only(host) -> None:
    keys = host.file("/etc/litellm/keys.yaml")
    assert keys.mode == 0o640 and keys.user == "root" and keys.group == "litellm"
    for key in (ALICE, CAROL, BOB):
        found = host.run(f"grep -rl -- '{key}' /etc /opt/litellm /var/lib/litellm 2>/dev/null")
        assert found.stdout == "", found.stdout
        assert key not in host.check_output("journalctl --no-pager -o cat || true")
