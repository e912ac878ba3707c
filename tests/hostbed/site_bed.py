"""The site e2e's fleet (tests/hostbed/conftest.py starts it once per run): its hosts and
addresses, and how the tests reach it (podman exec, ansible-playbook site.yml)."""

from __future__ import annotations

import functools
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent
HOSTS = {
    "ccprov-gpu1": "10.89.77.11",
    "ccprov-gw1": "10.89.77.12",
    "ccprov-ws1": "10.89.77.13",
    "ccprov-gw2": "10.89.77.14",
    "ccprov-gpu2": "10.89.77.15",
}
INVENTORY = REPO / "inventories/local"
CA = INVENTORY / "ccprov-ca/ca.crt"
GATEWAY_URL = "https://10.89.77.12"
# The gateways' shared address (litellm_gateway_vip in inventories/local, keepalived).
VIP = "10.89.77.20"
VIP_URL = f"https://{VIP}"
GATEWAY_HOSTS = {"ccprov-gw1": GATEWAY_URL, "ccprov-gw2": "https://10.89.77.14"}
GATEWAYS = (GATEWAY_URL, "https://10.89.77.14")
GPUS = ("ccprov-gpu1", "ccprov-gpu2")
DEV_KEY = "sk-ccprov-dev-local-0123456789"
BUSY_KEY = "sk-ccprov-rl-local-0123456789abcdef"  # rpm: 2 (inventories/local)


# playbooks/gpu_hosts.yml and gateways.yml roll one host at a time by default; this runs
# every host at once (CI time), where the batches are not what a test is about.
ALL_AT_ONCE = ("-e", "ccprov_gateway_batch=100%", "-e", "ccprov_gpu_batch=100%")


def sh(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, text=True, capture_output=True, check=check, **kwargs)


def podman_exec(host: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("podman", "exec", host, *command, check=check)


# The ops controller as the README sets it up: `./install.sh` (ccprov and ansible-core from
# the hash lock, no other collection, no Galaxy) into its own venv and home; site.yml and
# `ccprov ca init` run from it, with no test tool on the PATH (issue #31).
OPS = REPO / ".cache/ops-controller"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@functools.cache
def ops_bin() -> Path:
    """The bin directory of a fresh `./install.sh` (re-run once per test run: it upgrades in
    place, so the checkout's current code is what runs)."""
    (OPS / "home").mkdir(parents=True, exist_ok=True)
    env = {"PATH": SYSTEM_PATH, "HOME": str(OPS / "home"), "CCPROV_VENV": str(OPS / "venv")}
    for name in ("PIP_CONFIG_FILE", "PIP_INDEX_URL", "PIP_CERT", "SSL_CERT_FILE"):
        if name in os.environ:
            env[name] = os.environ[name]
    proc = subprocess.run(["./install.sh"], cwd=REPO, env=env, text=True, capture_output=True)
    assert proc.returncode == 0, f"./install.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return OPS / "venv/bin"


def site(*extra: str) -> subprocess.CompletedProcess[str]:
    """The README's ops command, `ansible-playbook site.yml -i inventories/local`, with the
    ansible-playbook ./install.sh installed, in the checkout."""
    bin_dir = ops_bin()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VIRTUAL_ENV"))},
        "PATH": f"{bin_dir}:{SYSTEM_PATH}",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    start = time.monotonic()
    proc = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "site.yml", "-i", str(INVENTORY), *extra],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=1800,
        check=False,
    )
    print(f"\n### site.yml rc={proc.returncode} in {time.monotonic() - start:.0f}s", flush=True)
    print(proc.stdout[-6000:], flush=True)
    return proc


def recap(output: str) -> dict[str, dict[str, int]]:
    found = {}
    for host, stats in re.findall(r"^(ccprov-\w+)\s+:\s+(.*)$", output, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", stats)}
    return found


def wait_until_ready(seconds: float = 180, url: str = GATEWAY_URL) -> None:
    """LiteLLM takes a while to start its workers; wait until the front's health path
    (LiteLLM's liveness) answers, then until a request is served."""
    deadline = time.monotonic() + seconds
    context = ssl.create_default_context(cafile=str(CA))
    while True:
        try:
            request = urllib.request.Request(
                f"{url}/v1/models", headers={"Authorization": f"Bearer {DEV_KEY}"}
            )
            with urllib.request.urlopen(request, timeout=5, context=context):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def vip_holders() -> list[str]:
    """The gateways that have the shared address on an interface now (a stopped one has not)."""
    return [
        gateway
        for gateway in GATEWAY_HOSTS
        if f"inet {VIP}/" in podman_exec(gateway, "ip", "-4", "addr", "show", check=False).stdout
    ]


def gateway_request(
    url: str,
    key: str,
    path: str,
    body: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, bytes]:
    """KEY's request to the gateway at URL, over the inventory's CA: a POST of BODY as JSON
    (Anthropic's headers), else a GET. The status and the body, an HTTP error's included."""
    sent = {"Authorization": f"Bearer {key}"}
    if body is not None:
        sent |= {"anthropic-version": "2023-06-01", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}{path}", data=data, headers={**sent, **(headers or {})})
    context = ssl.create_default_context(cafile=str(CA))
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_messages(key: str, gateway: str = GATEWAY_URL, session: str | None = None) -> int:
    """One short /v1/messages turn with KEY through GATEWAY: its HTTP status."""
    headers = {"X-Claude-Code-Session-Id": session} if session else {}
    body: dict[str, object] = {
        "model": "devstral",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "Say OK"}],
    }
    return gateway_request(gateway, key, "/v1/messages", body, headers)[0]
