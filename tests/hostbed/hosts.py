"""Start and stop test-bed hosts (podman + runc, systemd as PID 1) reachable over SSH.

Used by the three-host end-to-end test and by the fleet benchmark.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.support.paths import REPO

NETWORK = "ccprov-e2e"
SUBNET = "10.89.77.0/24"
IMAGE = "localhost/ccprov-hostbed:latest"
KEY = REPO / ".cache/hostbed/id_ed25519"
WHEELHOUSE = REPO / ".cache/wheelhouse"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, text=True, capture_output=True, check=check)


def ensure_key_and_network() -> None:
    """The test-bed SSH key (molecule's hosts trust it through a read-only mount too) and
    the site e2e's network."""
    KEY.parent.mkdir(parents=True, exist_ok=True)
    if not KEY.exists():
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(KEY))
    if sh("podman", "network", "exists", NETWORK, check=False).returncode != 0:
        sh("podman", "network", "create", "--subnet", SUBNET, NETWORK)


def start(hosts: dict[str, str]) -> None:
    """Start each name -> IP as a fresh host and let root in with the test key over SSH."""
    ensure_key_and_network()
    public = KEY.with_suffix(".pub").read_text().strip()
    for name, ip in hosts.items():
        sh("podman", "rm", "-f", name, check=False)
        sh(
            "podman",
            "run",
            "-d",
            "--name",
            name,
            "--hostname",
            name,
            "--network",
            NETWORK,
            "--ip",
            ip,
            "--runtime",
            "runc",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
            "--systemd=always",
            # Root on a real host may manage netfilter (the roles' port and egress allowlists).
            "--cap-add",
            "NET_ADMIN",
            # And send VRRP (keepalived, the gateways' shared address).
            "--cap-add",
            "NET_RAW",
            # The run's wheel cache (tests/wheelhouse.sh), read-only, as in molecule.
            "--volume",
            f"{WHEELHOUSE}:/srv/ccprov-wheelhouse:ro",
            IMAGE,
            "/sbin/init",
        )
    for name in hosts:
        sh(
            "podman",
            "exec",
            name,
            "bash",
            "-c",
            f"mkdir -p -m 700 /root/.ssh && echo '{public}' > /root/.ssh/authorized_keys"
            " && chmod 600 /root/.ssh/authorized_keys"
            # An image from before rootfs-setup.sh made root's user manager linger (see there).
            " && mkdir -p /var/lib/systemd/linger && touch /var/lib/systemd/linger/root",
        )
        for _ in range(60):
            state = sh("podman", "exec", name, "systemctl", "is-active", "ssh", check=False)
            if state.stdout.strip() == "active":
                break
            time.sleep(0.5)


def remove(names: list[str]) -> None:
    for name in names:
        sh("podman", "rm", "-f", "-t", "2", name, check=False)


def key_path() -> Path:
    return KEY
