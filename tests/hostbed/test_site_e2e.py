"""The whole stack on five test-bed hosts: `ccprov ca init -i inventories/local`, then
`ansible-playbook site.yml -i inventories/local` (two GPU hosts with the vLLM stand-in, two
gateways behind their HTTPS fronts sharing one Redis, a workstation), then, as the
developer on the workstation, `source claude-switch local` and the real `claude -p "Say OK"`
over HTTPS through gateway -> GPU host. A second run changes nothing. `ccprov audit` finds
planted malware. The gateway is the only door: the workstation cannot reach vLLM, the
gateway reaches nothing but its backends, and its front serves the client API only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from tests.conftest import REPO
from tests.hostbed import hosts as testbed
from tests.hostbed.site_bed import (
    ALL_AT_ONCE,
    BIN,
    BUSY_KEY,
    CA,
    DEV_KEY,
    GATEWAY_URL,
    GATEWAYS,
    GPUS,
    HOSTS,
    INVENTORY,
    VIP_URL,
    gateway_request,
    podman_exec,
    post_messages,
    recap,
    sh,
    site,
    vip_holders,
    wait_until_ready,
)
from tests.support import pins

pytestmark = pytest.mark.hostbed

CLIENT_API = {
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "POST /v1/chat/completions",
    "GET /v1/models",
    "GET /health/liveliness",
}


def test_site_deploys_all_three_tiers(deployed, hosts) -> None:
    assert set(recap(deployed)) == set(hosts)
    assert podman_exec("ccprov-gpu1", "systemctl", "is-active", "vllm").stdout.strip() == "active"
    assert podman_exec("ccprov-gw1", "systemctl", "is-active", "litellm").stdout.strip() == "active"
    config = podman_exec("ccprov-gw1", "cat", "/etc/litellm/config.yaml").stdout
    assert "api_base: http://10.89.77.11:8000/v1" in config  # from the gpu_hosts group
    assert "api_base: http://10.89.77.15:8000/v1" in config
    env = podman_exec("ccprov-ws1", "cat", "/home/dev/.claude-backends.env").stdout
    # The gateways' shared address (litellm_gateway_vip), over HTTPS, on exactly one gateway
    # (the first whose front answered: both started at once here).
    assert f'LOCAL_BASE_URL="{VIP_URL}"' in env
    assert len(vip_holders()) == 1
    assert 'LOCAL_CA_CERT="/home/dev/.config/ccprov/gateway-ca.pem"' in env


def test_developer_gets_ok_through_gateway_and_gpu_host(deployed) -> None:
    command = (
        "source claude-switch local >/dev/null && "
        "DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0 "
        "claude -p 'Say OK' --output-format text"
    )
    proc = podman_exec(
        "ccprov-ws1", "runuser", "-l", "dev", "-c", f'bash -ic "{command}"', check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "OK"


def test_second_run_changes_nothing(deployed) -> None:
    # Every host at once: what a no-op is does not depend on the batches, whose restarts
    # and reloads test_site_e2e_continuity.py runs.
    proc = site(*ALL_AT_ONCE)
    assert proc.returncode == 0
    stats = recap(proc.stdout)
    assert {host: s["changed"] for host, s in stats.items()} == {h: 0 for h in HOSTS}


def test_audit_finds_planted_litellm_and_pth(deployed) -> None:
    site_dir = "/opt/someapp/venv/lib/python3.11/site-packages"
    podman_exec(
        "ccprov-ws1",
        "bash",
        "-c",
        f"mkdir -p {site_dir}/litellm-1.82.8.dist-info && "
        f"printf 'Name: litellm\\nVersion: 1.82.8\\n' > "
        f"{site_dir}/litellm-1.82.8.dist-info/METADATA && "
        f"echo 'import os; exec(\"payload\")' > {site_dir}/litellm_init.pth",
    )
    try:
        proc = sh(str(BIN / "ccprov"), "audit", "-i", str(INVENTORY), check=False)
    finally:
        podman_exec("ccprov-ws1", "rm", "-rf", "/opt/someapp")
    print(proc.stdout)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = {
        line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("ccprov-")
    }
    assert "COMPROMISED" in rows["ccprov-ws1"]
    assert "clean" in rows["ccprov-gw1"] and pins.version("litellm") in rows["ccprov-gw1"]
    assert "litellm 1.82.8 is a compromised release" in proc.stdout
    assert "litellm_init.pth" in proc.stdout


def test_fleet_status_reports_every_host(deployed) -> None:
    proc = sh(str(BIN / "ccprov"), "status", "-i", str(INVENTORY), check=False)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {
        tuple(line.split()[::2][:2]): line
        for line in proc.stdout.splitlines()
        if line.startswith("ccprov-")
    }  # (host, service) -> row
    assert pins.version("vllm") in rows["ccprov-gpu1", "vllm"]
    assert "NVIDIA B200" in rows["ccprov-gpu1", "vllm"]
    assert pins.version("litellm") in rows["ccprov-gw1", "litellm"]
    assert "active" in rows["ccprov-gw1", "nginx"]  # the HTTPS front
    # Its certificate from ccprov's CA: litellm_gateway_tls_days (180), just signed.
    days = re.search(r"cert=(\d+)d", rows["ccprov-gw1", "nginx"])
    assert days and 178 <= int(days.group(1)) <= 180, rows["ccprov-gw1", "nginx"]
    assert "5 hosts: all healthy" in proc.stdout
    podman_exec("ccprov-gw1", "systemctl", "stop", "litellm")
    try:
        down = sh(str(BIN / "ccprov"), "status", "-i", str(INVENTORY), check=False)
    finally:
        podman_exec("ccprov-gw1", "systemctl", "start", "litellm")
        wait_until_ready()  # the tests after this one use it
    assert down.returncode == 1 and "needs attention" in down.stdout


def test_ccprov_workstation_over_ssh_for_another_account(deployed, tmp_path) -> None:
    """`ccprov workstation --host root@HOST --user NAME`: onboarding a remote developer."""
    podman_exec("ccprov-ws1", "useradd", "--create-home", "--shell", "/bin/zsh", "erin")
    key = tmp_path / "erin.key"
    key.write_text("sk-ccprov-dev-local-0123456789\n")
    env = {
        **os.environ,
        "ANSIBLE_PRIVATE_KEY_FILE": str(testbed.key_path()),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_SSH_ARGS": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
    }
    command = [
        str(BIN / "ccprov"),
        "workstation",
        "--host",
        "root@10.89.77.13",
        "--user",
        "erin",
        "--base-url",
        GATEWAY_URL,
        "--ca-file",
        str(CA),
        "--token-file",
        str(key),
        "--yes",
    ]
    proc = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Claude Code for erin on 10.89.77.13" in proc.stdout
    assert "the model answered" in proc.stdout
    assert "source ~/.bashrc" in proc.stdout or "source ~/.zshrc" in proc.stdout
    zshrc = podman_exec(
        "ccprov-ws1", "stat", "-c", "%U %a", "/home/erin/.claude-backends.env"
    ).stdout
    assert zshrc.strip() == "erin 600"
    assert "ccprov managed block" in podman_exec("ccprov-ws1", "cat", "/home/erin/.zshrc").stdout


def test_conformance_suite_through_the_deployed_gateway(deployed, tmp_path) -> None:
    """`ccprov smoke --conformance` against the gateway site.yml deployed (the
    role's default route) in front of the GPU host's vLLM stand-in, with the developer's
    own key: one line per check, all ok, exit 0."""
    env_file = tmp_path / "backends.env"
    env_file.write_text(
        f'LOCAL_BASE_URL="{GATEWAY_URL}"\nLOCAL_CA_CERT="{CA}"\n'
        'LOCAL_TOKEN="sk-ccprov-dev-local-0123456789"\nLOCAL_MODEL="devstral"\n'
    )
    env_file.chmod(0o600)
    proc = sh(
        str(BIN / "ccprov"), "smoke", "--conformance", "--env-file", str(env_file), check=False
    )
    print(proc.stdout)
    checks = [line for line in proc.stdout.splitlines() if line.startswith(("ok", "FAIL"))]
    assert len(checks) >= 20 and all(line.startswith("ok") for line in checks), proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sk-ccprov-dev-local-0123456789" not in proc.stdout + proc.stderr


def _connect(host: str, address: str, port: int, user: str = "root") -> str:
    """From a test host, as `user`: 'connected' or 'refused ...'."""
    script = (
        "import socket,sys\n"
        "try:\n"
        "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print('refused', e)\n"
    )
    prefix = (
        []
        if user == "root"
        else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    )
    return podman_exec(host, *prefix, "python3", "-c", script, address, str(port)).stdout.strip()


def test_only_the_gateway_reaches_vllm(deployed) -> None:
    """vLLM's port opens to the gateway and to no one else: a developer cannot bypass the
    gateway's keys and limits by calling the GPU host."""
    assert _connect("ccprov-gw1", "10.89.77.11", 8000, user="litellm") == "connected"
    assert _connect("ccprov-ws1", "10.89.77.11", 8000).startswith("refused")
    # The GPU host itself is still reachable otherwise (SSH), only the port is closed.
    assert _connect("ccprov-ws1", "10.89.77.11", 22) == "connected"


def test_gateway_reaches_nothing_but_its_backend(deployed) -> None:
    assert _connect("ccprov-gw1", "10.89.77.13", 22, user="litellm").startswith("refused")
    assert _connect("ccprov-gw1", "10.89.77.11", 22, user="litellm").startswith("refused")
    assert _connect("ccprov-gw1", "10.89.77.13", 22, user="ccprov-nginx").startswith("refused")
    assert _connect("ccprov-gw1", "10.89.77.13", 22) == "connected"  # root (ops) can


def test_front_serves_the_client_api_only_to_known_names(deployed, tmp_path) -> None:
    """From the workstation, as a developer would: every route LiteLLM has, through the
    front, with the developer's key and with an unknown key; a wrong Host is refused."""
    spec = podman_exec("ccprov-gw1", "curl", "-sf", "http://127.0.0.1:4000/openapi.json").stdout
    (tmp_path / "openapi.json").write_text(spec)
    sh("podman", "cp", str(tmp_path / "openapi.json"), "ccprov-ws1:/tmp/openapi.json")
    sh("podman", "cp", str(REPO / "tests/hostbed/route_sweep.py"), "ccprov-ws1:/tmp/route_sweep.py")
    ca = "/home/dev/.config/ccprov/gateway-ca.pem"

    def sweep(key: str, *extra: str) -> set[str]:
        out = podman_exec(
            "ccprov-ws1",
            "python3",
            "/tmp/route_sweep.py",
            "/tmp/openapi.json",
            GATEWAY_URL,
            key,
            "--cafile",
            ca,
            *extra,
        ).stdout
        results = json.loads(out)
        assert len(results) > 500
        return {
            route
            for route, status in results.items()
            if status not in (401, 403, 404, 405, 421) and status < 500
        }

    assert sweep(DEV_KEY) == CLIENT_API
    assert sweep("sk-nobody-0123456789abcdef0123456789") == {"GET /health/liveliness"}
    assert sweep(DEV_KEY, "--host", "gateway.attacker.example") == set()


def test_rate_limit_holds_one_developer_while_another_is_served(deployed) -> None:
    statuses = [post_messages(BUSY_KEY) for _ in range(3)]
    assert statuses[:2] == [200, 200] and statuses[2] == 429, statuses
    assert post_messages(DEV_KEY) == 200


def test_revoke_written_twice_within_one_timestamp_takes_effect(deployed) -> None:
    """keys.yaml rewritten with dev revoked, its mtime set back to the old one (two writes
    in one timestamp): the gateway refuses dev at once, and serves it again after."""
    path = "/etc/litellm/keys.yaml"
    original = podman_exec("ccprov-gw1", "cat", path).stdout
    mtime = podman_exec("ccprov-gw1", "stat", "-c", "%Y", path).stdout.strip()
    revoked = original.replace("\n  dev:\n", "\n  dev:\n    disabled: true\n")
    assert revoked != original

    def write(text: str) -> None:
        podman_exec(
            "ccprov-gw1",
            "python3",
            "-c",
            "import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
            path,
            text,
        )
        podman_exec("ccprov-gw1", "touch", "-m", "-d", f"@{mtime}", path)

    try:
        write(revoked)
        assert post_messages(DEV_KEY) == 401
    finally:
        write(original)
    assert post_messages(DEV_KEY) == 200


SESSION_KEYS = (
    DEV_KEY,
    "sk-ccprov-dev2-local-0123456789abcdef",
    "sk-ccprov-dev3-local-0123456789abcdef",
)


def _served(gpus: tuple[str, ...] = GPUS) -> dict[str, int]:
    """Requests each GPU host's vLLM answered (its vllm:request_success_total)."""
    found = {}
    for gpu in gpus:
        metrics = podman_exec(gpu, "curl", "-sf", "http://127.0.0.1:8000/metrics").stdout
        match = re.search(r"^vllm:request_success_total\{[^}]*\} (\d+)", metrics, re.M)
        assert match, metrics
        found[gpu] = int(match.group(1))
    return found


def _session_turns(
    session: str, key: str, turns: int, gpus: tuple[str, ...] = GPUS
) -> tuple[list[int], dict[str, int]]:
    """TURNS turns of one session, alternating between the two gateways: statuses and the
    requests each of GPUS served meanwhile."""
    before = _served(gpus)
    statuses = [post_messages(key, GATEWAYS[turn % 2], session=session) for turn in range(turns)]
    after = _served(gpus)
    return statuses, {gpu: after[gpu] - before[gpu] for gpu in gpus}


def test_two_gateways_keep_each_session_on_one_gpu_host(deployed) -> None:
    """Session affinity across gateways (issue #19): three developers' sessions, each turn
    through the other gateway; every session stays on one GPU host, because both gateways
    (and all their workers) keep their pins in the first gateway's Redis."""
    for number, key in enumerate(SESSION_KEYS):
        statuses, delta = _session_turns(f"e2e-session-{number}", key, 4)
        assert statuses == [200] * 4
        assert sorted(delta.values()) == [0, 4], (number, delta)
    config = podman_exec("ccprov-gw2", "cat", "/etc/litellm/config.yaml").stdout
    assert "redis_host: 10.89.77.12" in config
    assert (
        podman_exec(
            "ccprov-gw2", "systemctl", "is-active", "redis-server", check=False
        ).stdout.strip()
        != "active"
    )
    # The shared Redis answers the other gateway and no one else.
    assert _connect("ccprov-gw2", "10.89.77.12", 6379) == "connected"
    assert _connect("ccprov-ws1", "10.89.77.12", 6379).startswith("refused")
    # Over TLS only (litellm_gateway_redis_tls): in clear it says nothing; over TLS,
    # verified with the CA LiteLLM uses, it answers (and wants the password).
    assert _redis_ping("ccprov-gw2", tls=False) == "no answer"
    assert _redis_ping("ccprov-gw2", tls=True).startswith("-NOAUTH")


def _redis_ping(host: str, tls: bool) -> str:
    """PING the shared Redis from HOST without a password, in clear or over verified TLS."""
    script = (
        "import socket,ssl,sys\n"
        "s=socket.create_connection(('10.89.77.12',6379),timeout=5)\n"
        "if sys.argv[1]=='tls':\n"
        "    c=ssl.create_default_context(cafile='/etc/litellm/redis-ca.pem')\n"
        "    s=c.wrap_socket(s,server_hostname='10.89.77.12')\n"
        "s.sendall(b'PING\\r\\n')\n"
        "try:\n"
        "    print(s.recv(200).decode().strip() or 'no answer')\n"
        "except OSError:\n"
        "    print('no answer')\n"
    )
    mode = "tls" if tls else "plain"
    return podman_exec(host, "python3", "-c", script, mode).stdout.strip()


def test_a_stopped_gpu_host_loses_its_sessions_without_an_error(deployed) -> None:
    _, delta = _session_turns("e2e-failover", DEV_KEY, 2)
    pinned = next(gpu for gpu, served in delta.items() if served)
    other = next(gpu for gpu in GPUS if gpu != pinned)
    podman_exec(pinned, "systemctl", "stop", "vllm")
    try:
        statuses, moved = _session_turns("e2e-failover", DEV_KEY, 4, gpus=(other,))
        assert statuses == [200] * 4
        assert moved[other] == 4
    finally:
        podman_exec(pinned, "systemctl", "start", "vllm")
        for _ in range(60):
            health = podman_exec(pinned, "curl", "-sf", "http://127.0.0.1:8000/health", check=False)
            if health.returncode == 0:
                break
            time.sleep(1)


def _message(key: str, gateway: str, text: str) -> dict[str, int]:
    """One POST /v1/messages with TEXT as the prompt: the usage the gateway answered with."""
    body: dict[str, object] = {
        "model": "devstral",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": text}],
    }
    status, answer = gateway_request(gateway, key, "/v1/messages", body)
    assert status == 200, answer
    return dict(json.loads(answer)["usage"])


def _usage_rows() -> dict[str, dict]:
    proc = sh(str(BIN / "ccprov"), "usage", "-i", str(INVENTORY), "--since", "1d", "--json")
    return {row["key"]: row for row in json.loads(proc.stdout)["rows"]}


def test_usage_counts_each_developer_exactly_and_logs_no_prompt_or_key(deployed) -> None:
    """Issue #21: two developers through the two gateways; `ccprov usage -i inventories/local`
    (both gateways' logs over SSH) counts each one's requests and tokens as the gateway
    answered them; the prompt's text and the keys are nowhere on either gateway."""
    canary = f"usage-canary-{os.urandom(6).hex()}"
    dev2, dev3 = SESSION_KEYS[1], SESSION_KEYS[2]
    before = _usage_rows()
    sent = {
        "dev2": [_message(dev2, GATEWAYS[0], f"{canary} Say OK") for _ in range(2)],
        "dev3": [_message(dev3, GATEWAYS[1], f"{canary} Say OK twice") for _ in range(3)],
    }
    after = _usage_rows()
    for name, answers in sent.items():
        old = before.get(name, {"requests": 0, "input_tokens": 0, "output_tokens": 0})
        new = after[name]
        assert new["requests"] - old["requests"] == len(answers), name
        # LiteLLM's prompt tokens for /v1/messages: uncached + cache read + cache write.
        assert new["input_tokens"] - old["input_tokens"] == sum(
            sum(
                a.get(part) or 0
                for part in (
                    "input_tokens",
                    "cache_read_input_tokens",
                    "cache_creation_input_tokens",
                )
            )
            for a in answers
        ), name
        assert new["output_tokens"] - old["output_tokens"] == sum(
            a["output_tokens"] for a in answers
        ), name
    for gateway in ("ccprov-gw1", "ccprov-gw2"):
        for secret in (canary, dev2, dev3):
            found = podman_exec(
                gateway,
                "sh",
                "-c",
                f"grep -rlaF -e {secret} /var/log /var/lib /etc /run /tmp 2>/dev/null;"
                f" journalctl --no-pager -o cat | grep -cF -e {secret}",
                check=False,
            ).stdout.split()
            assert found == ["0"], (gateway, secret[:14], found)


def _scrape(host: str, path: str) -> str:
    """GET https://gw1{path} from a test host: its status line and, on 200, the body."""
    script = (
        "import ssl,sys,urllib.request as u\n"
        "c=ssl.create_default_context(cafile='/etc/ssl/certs/ca-certificates.crt')\n"
        "c.load_verify_locations(sys.argv[2])\n"
        "try:\n"
        "    r = u.urlopen(sys.argv[1], timeout=20, context=c)\n"
        "    print(r.status); print(r.read().decode())\n"
        "except u.HTTPError as e:\n"
        "    print(e.code)\n"
    )
    return podman_exec(
        host, "python3", "-c", script, f"{GATEWAY_URL}{path}", "/tmp/ccprov-ca.crt"
    ).stdout


def test_metrics_only_for_the_monitoring_network(deployed) -> None:
    """litellm_gateway_metrics_clients (inventories/local: gpu2's address, standing in for a
    Prometheus host): per-developer counters and each GPU host's vLLM metrics through the
    front; any other host (the workstation) gets 403."""
    for host in ("ccprov-gpu2", "ccprov-ws1"):
        subprocess.run(
            ["podman", "cp", str(CA), f"{host}:/tmp/ccprov-ca.crt"], check=True, capture_output=True
        )
    _message(SESSION_KEYS[1], GATEWAY_URL, "Say OK")
    allowed = _scrape("ccprov-gpu2", "/metrics")
    assert allowed.startswith("200"), allowed[:200]
    assert re.search(r'^litellm_proxy_total_requests_metric_total\{.*user="dev2"', allowed, re.M)
    vllm = _scrape("ccprov-gpu2", "/metrics/vllm/10.89.77.11:8000")
    assert vllm.startswith("200") and "vllm:prefix_cache_queries_total" in vllm, vllm[:200]
    for path in ("/metrics", "/metrics/vllm/10.89.77.11:8000"):
        assert _scrape("ccprov-ws1", path).strip() == "403", path
