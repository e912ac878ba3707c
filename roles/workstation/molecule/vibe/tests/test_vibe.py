"""The vibe route on a real host: loopback LiteLLM proxy (systemd user service) -> Mistral
API stand-in, driven by the real Claude Code CLI as the developer."""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path

import yaml

HOME = "/home/dev"
ENV_FILE = f"{HOME}/.config/ccprov/vibe-proxy/env"
GUARD = Path(__file__).resolve().parents[5] / "plugins/module_utils/litellm_guard.py"
# The proxy's release: the one the role pins (its defaults, held equal to the lock).
DEFAULTS = Path(__file__).resolve().parents[3] / "defaults/main.yml"
VERSION = yaml.safe_load(DEFAULTS.read_text())["workstation_vibe_proxy_version"]
OFFLINE = "DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0"


def as_dev(host, script: str):
    """Run a bash script as the developer, in a login shell with a user session bus."""
    uid = host.check_output("id -u dev")
    return host.run(
        f"runuser -u dev -- env XDG_RUNTIME_DIR=/run/user/{uid} HOME={HOME} "
        f"bash -lc {shlex.quote(script)}"
    )


def test_claude_code_reaches_the_mistral_api_through_the_proxy(host) -> None:
    before = host.file("/var/log/standin-mistral.jsonl")
    count = len(before.content_string.splitlines()) if before.exists else 0
    run = as_dev(
        host,
        f'source claude-switch vibe && {OFFLINE} timeout 120 claude -p "Say OK"',
    )
    assert run.rc == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "OK"
    assert "claude-switch: vibe -> http://127.0.0.1:4000" in run.stdout
    requests = host.file("/var/log/standin-mistral.jsonl").content_string.splitlines()[count:]
    assert requests, "the Mistral API stand-in got no request"
    assert {json.loads(r)["model"] for r in requests} == {"devstral-medium-latest"}


def test_switch_exports_the_proxys_master_key(host) -> None:
    run = as_dev(host, "source claude-switch vibe >/dev/null && env")
    env = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4000"
    key = host.file(f"{HOME}/.config/ccprov/vibe-proxy/master.key").content_string.strip()
    assert env["ANTHROPIC_AUTH_TOKEN"] == key
    assert key.startswith("sk-vibe-") and len(key) > 30


def test_proxy_is_a_lingering_user_service_on_loopback_only(host) -> None:
    assert host.file("/var/lib/systemd/linger/dev").exists
    assert as_dev(host, "systemctl --user is-active ccprov-vibe-proxy.service").rc == 0
    listeners = host.check_output("ss -Hltn 'sport = :4000'").splitlines()
    assert listeners
    assert all(line.split()[3] == "127.0.0.1:4000" for line in listeners), listeners


def test_proxy_keys_are_private(host) -> None:
    for path in (
        ENV_FILE,
        f"{HOME}/.config/ccprov/vibe-proxy/master.key",
        f"{HOME}/.claude-backends.env",
    ):
        f = host.file(path)
        assert f.user == "dev" and f.mode == 0o600, path
    assert host.file(f"{HOME}/.config/ccprov/vibe-proxy").mode == 0o700
    # No key on the command line of the developer's processes (the proxy's included).
    args = host.check_output("ps -o args= -u dev")
    assert "litellm" in args
    assert "sk-mistral" not in args and "sk-vibe" not in args


def test_proxy_venv_passes_the_gateways_supply_chain_audit(host) -> None:
    guard = base64.b64encode(GUARD.read_bytes()).decode()
    policy = json.dumps({"roots": [f"{HOME}/.local/share/ccprov"]})
    out = host.check_output(f"echo {guard} | base64 -d | python3 - {shlex.quote(policy)}")
    report = json.loads(out)
    assert {i["version"] for i in report["litellm"]} == {VERSION}
    assert report["findings"] == []


def test_no_mistral_key_names_the_variable_and_changes_nothing(host) -> None:
    host.check_output(f"cp -p {ENV_FILE} {ENV_FILE}.keep")
    try:
        host.check_output(f"sed -i 's/^MISTRAL_API_KEY=.*/MISTRAL_API_KEY=\"\"/' {ENV_FILE}")
        run = as_dev(
            host,
            "export ANTHROPIC_BASE_URL=before; source claude-switch vibe; rc=$?; "
            'echo "rc=$rc url=$ANTHROPIC_BASE_URL"',
        )
        assert "rc=1 url=before" in run.stdout
        assert "MISTRAL_API_KEY is empty" in run.stderr
        assert ENV_FILE in run.stderr
    finally:
        host.check_output(f"mv -f {ENV_FILE}.keep {ENV_FILE}")


def test_port_taken_names_the_process_and_kills_nothing(host) -> None:
    assert as_dev(host, "systemctl --user stop ccprov-vibe-proxy.service").rc == 0
    try:
        squat = as_dev(
            host,
            "nohup python3 -m http.server 4000 --bind 127.0.0.1 >/dev/null 2>&1 & echo $!; sleep 1",
        )
        pid = squat.stdout.split()[0]
        run = as_dev(host, "source claude-switch vibe; echo rc=$?")
        assert "rc=1" in run.stdout
        assert f"port 4000 is taken by python3 (pid {pid})" in run.stderr
        assert host.run(f"kill -0 {pid}").rc == 0, "the other program was killed"
        host.run(f"kill {pid}")
    finally:
        assert as_dev(host, "systemctl --user start ccprov-vibe-proxy.service").rc == 0


def test_opencode_answers_from_the_gateway(host) -> None:
    run = as_dev(host, 'cd /tmp && timeout 180 opencode run "Say OK"')
    assert run.rc == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1] == "OK"
    config = json.loads(host.file(f"{HOME}/.config/opencode/opencode.json").content_string)
    options = config["provider"]["ccprov"]["options"]
    assert options["baseURL"] == "http://127.0.0.1:8000/v1"
    # The key stays in its own 0600 file; the config only points at it.
    assert options["apiKey"] == f"{{file:{HOME}/.config/ccprov/gateway.key}}"
    key = host.file(f"{HOME}/.config/ccprov/gateway.key")
    assert key.mode == 0o600 and key.user == "dev"


def test_vibe_orchestrator_names_the_installed_agent(host) -> None:
    skill = host.file(f"{HOME}/.claude/skills/vibe-orchestrator/SKILL.md").content_string
    assert 'opencode run "<self-contained prompt>"' in skill


def test_a_dotenv_in_the_home_does_not_reach_the_proxy(host) -> None:
    # LiteLLM loads the first .env above its install (~/.local/share/...) unless told not
    # to: a database URL there would stop the proxy at start.
    host.check_output(
        f"printf 'DATABASE_URL=postgresql://nobody:x@127.0.0.1:1/none\\n' > {HOME}/.env"
        f" && chown dev: {HOME}/.env"
    )
    try:
        assert as_dev(host, "systemctl --user restart ccprov-vibe-proxy.service").rc == 0
        run = as_dev(host, "ccprov-vibe-proxy ensure; echo rc=$?")
        assert "rc=0" in run.stdout, run.stderr
        assert as_dev(host, "systemctl --user is-active ccprov-vibe-proxy.service").rc == 0
    finally:
        host.run(f"rm -f {HOME}/.env")
