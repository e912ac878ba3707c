"""The gateway on a real host: pinned, audited, hardened, answering /v1/messages."""

from __future__ import annotations

import json

MASTER = "sk-master-molecule-0123456789"
VERSION = "1.106.2"


def test_service_active_enabled_and_listening(host) -> None:
    service = host.service("litellm")
    assert service.is_running and service.is_enabled
    assert host.socket("tcp://0.0.0.0:4000").is_listening


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
