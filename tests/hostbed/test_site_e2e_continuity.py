"""No failed turn through change and faults (issue #29), on the site e2e's fleet (two GPU
hosts with the vLLM stand-in, two gateways sharing one Redis), after tests/hostbed/
test_site_e2e.py. Simulated Claude Code sessions (tests/support/continuity.py: streamed
/v1/messages turns through both gateways, with and without Claude Code's retries) run while
each event happens; each event is a row of the continuity table, printed at the end and
kept in bench/README.md.

Planned changes are made as ops make them, with `ansible-playbook site.yml` and the default
rolling batches: they fail no turn, not even raw. Faults fail none after Claude Code's
retries. The stand-in streams one event per 0.3 s here (/etc/ccprov-standin-token-delay:
a GPU's pace, which it has none of), so restarts meet turns in flight. What cannot happen
here: weights loading for minutes (the stand-in starts in seconds), a stuck NCCL collective
(SIGSTOP stands in: the host accepts connections and never answers)."""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.hostbed.site_bed import (
    ALL_AT_ONCE,
    CA,
    DEV_KEY,
    GATEWAY_HOSTS,
    GATEWAYS,
    GPUS,
    INVENTORY,
    VIP_URL,
    gateway_request,
    podman_exec,
    post_messages,
    sh,
    site,
    vip_holders,
)
from tests.support.continuity import Row, during
from tests.support.gateway import role_default

pytestmark = pytest.mark.hostbed

PACE = 0.3  # seconds between the stand-in's streamed events
_LIMITS = yaml.safe_load((INVENTORY / "group_vars/all/main.yml").read_text())
STREAM_TIMEOUT = int(_LIMITS["litellm_gateway_stream_timeout"])  # the first token's wait
STREAM_IDLE = int(_LIMITS["litellm_gateway_stream_idle_timeout"])  # a stream's later gaps
COOLDOWN = 30  # litellm_gateway_cooldown_seconds (the role's default)
ROWS: list[tuple[Row, str]] = []
NEW_KEY = "sk-ccprov-dev4-local-0123456789abcdef"
REVOKED_KEY = "sk-ccprov-dev3-local-0123456789abcdef"


@pytest.fixture(scope="module")
def paced(deployed) -> Iterator[float]:
    for gpu in GPUS:
        podman_exec(gpu, "sh", "-c", f"echo {PACE} > /etc/ccprov-standin-token-delay")
    baseline, _ = load("nothing (baseline)", lambda: None, before=3.0, after=3.0)
    ROWS.append((baseline, ""))
    assert baseline.turns > 0 and baseline.failed_raw == 0, baseline
    yield baseline.median_seconds
    for gpu in GPUS:
        podman_exec(gpu, "rm", "-f", "/etc/ccprov-standin-token-delay")
    print("\n| event | turns | failed raw | failed after retries | most latency added | gone |")
    print("|---|---|---|---|---|---|")
    for row, gone in ROWS:
        print(row.markdown(baseline.median_seconds, gone))
        if row.errors:
            print(f"<!-- {row.event}: {row.errors} -->")


def inventory_vars() -> dict[str, Any]:
    """The test bed's inventory variables (inventories/local/group_vars/all/main.yml)."""
    return dict(yaml.safe_load((INVENTORY / "group_vars/all/main.yml").read_text()))


def load(
    event: str, action: Callable[[], Any], urls: tuple[str, ...] = GATEWAYS, **kwargs: Any
) -> tuple[Row, Any]:
    return during(event, action, list(urls), DEV_KEY, str(CA), **kwargs)


def health(gpu: str) -> bool:
    return (
        podman_exec(gpu, "curl", "-sf", "http://127.0.0.1:8000/health", check=False).returncode == 0
    )


def wait_healthy(gpu: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not health(gpu):
        assert time.monotonic() < deadline, f"{gpu}: vLLM did not come back"
        time.sleep(1)


def down_windows(gpu: str, since: float) -> list[tuple[float, float]]:
    """When vLLM was stopped on GPU since SINCE (epoch seconds): systemd's own Stopping and
    Started lines in the host's journal."""
    log = podman_exec(
        gpu, "journalctl", "-u", "vllm.service", "-o", "short-unix", "-q", "--no-pager",
        f"--since=@{since:.0f}",
    ).stdout  # fmt: skip
    windows, stopping = [], None
    for line in log.splitlines():
        stamp = float(line.split()[0])
        if "Stopping vllm.service" in line:
            stopping = stamp
        elif "Started vllm.service" in line and stopping is not None:
            windows.append((stopping, stamp))
            stopping = None
    return windows


def main_pid(host: str, unit: str) -> str:
    return podman_exec(host, "systemctl", "show", "-p", "MainPID", "--value", unit).stdout.strip()


NEW_PIN = "0.33.2"  # the stand-in built at another version: what a vLLM upgrade installs
NEW_REVISION = "0123456789abcdef0123456789abcdef01234567"  # a weights commit


def test_rolling_vllm_upgrade_fails_no_turn_and_keeps_a_host_up(paced) -> None:
    """The vLLM pin and the weights revision changed on every GPU host in one run, as ops
    upgrade (the stand-in at another version from its own hash lock; the revision in vLLM's
    config): one host at a time, drained first; no turn fails, raw, and the two hosts are
    never down at once (their vLLM stop and start times). The second host drains only once
    the gateways' cooldown of the first (30 s, from its drain's 503s) has ended since it
    came back: draining it sooner left the gateways no host (a CI run saw 429 "No
    deployments available" and the drain's 503 reach clients). The weights are not fetched
    (no model download here: vllm_server_download_weights is false in the test bed)."""
    wheelhouse = REPO / ".cache/wheelhouse/standin"
    sh("bash", str(REPO / "tests/standins/vllm/build-wheelhouse.sh"), str(wheelhouse), NEW_PIN)
    upgrade = (
        "-e", f"vllm_server_version={NEW_PIN}",
        "-e", f"vllm_server_requirements_file={wheelhouse}/vllm-{NEW_PIN}.txt",
        "-e", f"vllm_server_model_revision={NEW_REVISION}",
    )  # fmt: skip
    since = time.time()
    row, proc = load(
        "vLLM pin and weights revision changed on every GPU host (rolling, drained)",
        lambda: site("--limit", "gpu_hosts", *upgrade),
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    windows = {gpu: down_windows(gpu, since) for gpu in GPUS}
    assert all(len(w) == 1 for w in windows.values()), windows
    (a_stop, a_start), (b_stop, b_start) = windows[GPUS[0]][0], windows[GPUS[1]][0]
    assert a_start < b_stop or b_start < a_stop, f"both GPU hosts were down at once: {windows}"
    first_back, second_stops = sorted([(a_start, b_stop), (b_start, a_stop)])[0]
    assert second_stops - first_back >= COOLDOWN, f"drained within the cooldown: {windows}"
    gone = ", ".join(f"{gpu} {w[0][1] - w[0][0]:.1f} s" for gpu, w in windows.items())
    ROWS.append((row, gone + " (never both)"))
    # A throwaway test-bed key: vLLM's key guard lets only /health and /metrics by without it.
    vllm_key = inventory_vars()["vllm_server_api_key"]
    for gpu in GPUS:
        version = podman_exec(
            gpu, "curl", "-sf", "-H", f"Authorization: Bearer {vllm_key}",
            "http://127.0.0.1:8000/version",
        ).stdout  # fmt: skip
        assert json.loads(version)["version"] == NEW_PIN, (gpu, version)
        assert f"--revision {NEW_REVISION}" in podman_exec(gpu, "systemctl", "cat", "vllm").stdout
    assert row.failed_raw == 0, row


def _keys_changed(tmp: Path) -> Path:
    """The inventory's developer keys with dev4 added and dev3 revoked (as the role's README
    says: `disabled: true`), as extra vars."""
    keys = dict(inventory_vars()["litellm_gateway_developer_keys"])
    keys["dev3"] = {**keys["dev3"], "disabled": True}
    keys["dev4"] = {"sha256": hashlib.sha256(NEW_KEY.encode()).hexdigest(), "created": "2026-12-06"}
    path = tmp / "keys.json"
    path.write_text(json.dumps({"litellm_gateway_developer_keys": keys}))
    return path


def refusal(key: str, url: str) -> str:
    """The gateway's answer to KEY on /v1/models (a 401's reason)."""
    status, body = gateway_request(url, key, "/v1/models", timeout=30)
    return f"{status} {body.decode()}"


def served_certificate(address: str) -> str:
    return ssl.get_server_certificate((address, int(role_default("litellm_gateway_tls_port"))))


def test_gateway_config_key_and_certificate_changes_fail_no_turn(paced, tmp_path) -> None:
    """A LiteLLM config change, a key added and one revoked, and the HTTPS certificate renewed,
    on both gateways in one run: LiteLLM is reloaded worker by worker (its main process
    stays), nginx reloads gracefully, no turn fails, raw; the new key works, the revoked one
    is refused, the front serves a new certificate."""
    before = {gw: main_pid(gw, "litellm") for gw in ("ccprov-gw1", "ccprov-gw2")}
    certificate = served_certificate("10.89.77.12")
    extra = _keys_changed(tmp_path)
    # Both gateways at once (CI time): a reload cuts nothing whatever the batch.
    change = ("-e", "litellm_gateway_cooldown_seconds=31", "-e", f"@{extra}", *ALL_AT_ONCE)
    # Renew now: any certificate with fewer than 400 days left (all of them: 180).
    change += ("-e", "litellm_gateway_tls_renew_days=400")
    row, proc = load(
        "LiteLLM config changed, a key added and one revoked, certificate renewed "
        "(both gateways at once)",
        lambda: site("--limit", "gateways", *change),
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    ROWS.append((row, "none (workers replaced one at a time)"))
    assert {gw: main_pid(gw, "litellm") for gw in before} == before  # reloaded, not restarted
    config = podman_exec("ccprov-gw2", "cat", "/etc/litellm/config.yaml").stdout
    # A number though -e gives a string: LiteLLM does arithmetic with it.
    assert re.search(r"cooldown_time: 31$", config, re.M), config
    assert post_messages(NEW_KEY, GATEWAYS[1]) == 200
    assert post_messages(REVOKED_KEY, GATEWAYS[0]) == 401
    assert "was revoked" in refusal(REVOKED_KEY, GATEWAYS[1])
    assert served_certificate("10.89.77.12") != certificate
    assert row.failed_raw == 0, row


def running(gpu: str) -> float:
    """Requests vLLM on GPU is generating now (vllm:num_requests_running)."""
    metrics = podman_exec(gpu, "curl", "-sf", "http://127.0.0.1:8000/metrics").stdout
    found = re.findall(r"^vllm:num_requests_running\{[^}]*\} ([0-9.e+]+)$", metrics, re.M)
    return sum(float(value) for value in found)


COOLING: dict[str, float] = {}
"""When each GPU host a fault test failed leaves the gateways' cooldown (time.monotonic())."""


def cooled_down() -> None:
    """Wait until no GPU host is left out by the gateways for an earlier fault. A fault on
    the one host serving while the other still cools down is two faults at once: the last
    CI run hung the second host 17 s after the first was killed (cooldown 30 s), and a turn
    waited two stream timeouts, having nowhere else to go."""
    time.sleep(max([0.0, *(until - time.monotonic() for until in COOLING.values())]))


def busiest() -> str:
    """The GPU host generating the most turns now (session affinity can keep every session
    on one host: a fault elsewhere would meet none), once one is generating any."""
    deadline = time.monotonic() + 15
    while True:
        counts = {gpu: running(gpu) for gpu in GPUS}
        gpu = max(counts, key=lambda name: counts[name])
        if counts[gpu] > 0:
            return gpu
        assert time.monotonic() < deadline, f"no GPU host is generating: {counts}"
        time.sleep(0.2)


def test_killed_vllm_fails_no_turn_after_retries(paced) -> None:
    """kill -9 of vLLM on the GPU host generating turns at that moment: its streams in flight
    break (Claude Code retries them), new turns go to the other host, systemd starts it
    again (RestartSec=10)."""

    def kill() -> tuple[str, float]:
        gpu = busiest()
        start = time.monotonic()
        COOLING[gpu] = start + COOLDOWN
        podman_exec(gpu, "systemctl", "kill", "-s", "KILL", "vllm")
        time.sleep(1)
        wait_healthy(gpu)
        return gpu, time.monotonic() - start

    row, (gpu, gone) = load("kill -9 of vLLM on one GPU host", kill)
    ROWS.append((row, f"{gpu} {gone:.0f} s (systemd restarts it)"))
    assert row.failed == 0, row
    assert row.failed_raw > 0, f"the kill met no turn: {row}"


def test_a_hung_gpu_host_costs_a_turn_at_most_the_first_token_limit(paced) -> None:
    """vLLM stopped dead (SIGSTOP): its socket still accepts, nothing answers. A turn sent
    there waits the first-token limit (STREAM_TIMEOUT), then LiteLLM retries it on the other
    host; a stream in flight breaks after the shorter idle limit (STREAM_IDLE) and Claude
    Code's retry goes to the other host (ccprov_failover.py cools the host down on either
    timeout and keeps a retry off it). Either way the turn costs at most the first-token
    limit. The host hung is the one generating turns at that moment (session affinity can
    keep every session on one host, and a hang elsewhere would meet none), once no host is
    left out for an earlier fault."""

    def hang() -> str:
        gpu = busiest()
        pid = main_pid(gpu, "vllm")
        podman_exec(gpu, "kill", "-STOP", pid)
        try:
            time.sleep(STREAM_TIMEOUT * 2)
        finally:
            podman_exec(gpu, "kill", "-CONT", pid)
        return gpu

    cooled_down()
    row, gpu = load("vLLM hung on one GPU host (accepts, never answers)", hang)
    ROWS.append((row, f"{gpu} hung {STREAM_TIMEOUT * 2} s"))
    assert row.failed == 0, row
    assert row.failed_raw > 0 or row.max_seconds >= STREAM_TIMEOUT, f"the hang met no turn: {row}"
    # A new turn: the limit, then the turn again elsewhere (a baseline turn, give or take one
    # streamed event and the connection). A turn in flight: what it streamed before the hang
    # (under one turn), STREAM_IDLE, Claude Code's 0.5 s backoff, the turn again.
    assert row.max_seconds - paced <= STREAM_TIMEOUT + PACE + 0.5, row


def test_redis_stopped_fails_no_turn(paced) -> None:
    """The gateways' shared Redis (session pins, rate-limit counters) on the first gateway
    stops: both gateways keep serving, each worker on its own state, and use it again."""

    def outage() -> None:
        podman_exec("ccprov-gw1", "systemctl", "stop", "redis-server")
        try:
            time.sleep(15)
        finally:
            podman_exec("ccprov-gw1", "systemctl", "start", "redis-server")

    row, _ = load("Redis stopped for 15 s", outage)
    ROWS.append((row, "Redis 15 s"))
    assert row.failed_raw == 0, row
    active = podman_exec("ccprov-gw1", "systemctl", "is-active", "redis-server", check=False)
    assert active.stdout.strip() == "active"


def test_the_gateway_holding_the_shared_address_stops(paced) -> None:
    """The host of the gateway holding the shared address stops (with the first gateway, the
    shared Redis too): keepalived moves the address to the other gateway within seconds; the
    developers' sessions, all through that address, fail no turn after Claude Code's
    retries. A turn in flight on the dead host hears nothing more (no reset from a host that
    is gone): it waits for the client's read timeout, 30 s here (Claude Code's
    API_TIMEOUT_MS: 600 s by default), then its retry goes to the other gateway. The host
    is not started again (the fleet is removed after this test); nopreempt, which keeps a
    returning gateway from taking the address back, is in tests/unit/test_gateway_vip_render.py."""
    (holder,) = vip_holders()
    (other,) = set(GATEWAY_HOSTS) - {holder}

    def stop_gateway() -> float:
        start = time.monotonic()
        sh("podman", "stop", "-t", "2", holder)
        while vip_holders() != [other]:
            assert time.monotonic() - start < 30, "the shared address did not move"
            time.sleep(0.5)
        moved = time.monotonic() - start
        time.sleep(5)  # turns through the other gateway meanwhile
        return moved

    row, moved = load(
        "the gateway holding the shared address: its host stops",
        stop_gateway,
        (VIP_URL,),
        read_timeout=30,
    )
    ROWS.append((row, f"address moved in {moved:.1f} s"))
    assert row.failed == 0, row
