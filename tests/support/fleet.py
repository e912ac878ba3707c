"""Several vLLM stand-in replicas behind one real LiteLLM gateway, and a Redis for it.

For benchmarks and tests that need more than the one backend tests/support/gateway.py's
`start_gateway` gives: N stand-ins (each its own process, so its own prefix cache), the
role's rendered config for all of them with extra `router_settings` laid over it, and a
loopback redis-server with a password when one is installed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ccprov.probes import status_probe
from tests.support.gateway import launch_gateway, render_gateway_config
from tests.support.standin import free_port, start_standin

STANDIN_KEY = "sk-fleet-standin-0123456789abcdef0123"


@dataclass
class Replica:
    port: int
    env: dict[str, str]
    flags: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """(Re)start the stand-in on its port: a fresh process, so an empty cache."""
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)  # start_standin passes os.environ on
        try:
            self.proc = start_standin(self.port, STANDIN_KEY, *self.flags)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def metrics(self) -> dict[str, float]:
        """The replica's Prometheus samples, each name's series summed: {name: total}."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            return status_probe.metric_totals(response.read().decode())


def start_replicas(
    n: int, env: dict[str, str] | None = None, flags: tuple[str, ...] = ()
) -> list[Replica]:
    """N stand-ins, each with ENV (e.g. its TTFT constants) and extra vllm serve FLAGS."""
    replicas = [Replica(free_port(), dict(env or {}), flags) for _ in range(n)]
    for replica in replicas:
        replica.start()
    return replicas


@dataclass
class Redis:
    port: int
    password: str
    proc: subprocess.Popen[bytes]
    workdir: Path

    def cli(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), "--no-auth-warning", "-a", self.password, *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_redis(workdir: Path) -> Redis | None:
    """redis-server on 127.0.0.1 with a password, no persistence; None when not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    password = secrets.token_hex(16)
    conf = workdir / "redis.conf"
    conf.write_text(
        f'bind 127.0.0.1\nport {port}\nrequirepass {password}\nsave ""\nappendonly no\n'
        f"dir {workdir}\nprotected-mode yes\n"
    )
    conf.chmod(0o600)
    proc = subprocess.Popen(
        [binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return Redis(port, password, proc, workdir)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@dataclass
class FleetGateway:
    url: str
    master_key: str
    log: Path
    config: dict[str, Any]
    proc: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_fleet_gateway(
    tmp: Path,
    replicas: list[Replica],
    workers: int,
    router_settings: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    developers: dict[str, dict[str, Any]] | None = None,
) -> FleetGateway:
    """The real pinned LiteLLM with the role's config for REPLICAS (one deployment each),
    ROUTER_SETTINGS laid over the role's router_settings, and the role's unit environment;
    DEVELOPERS go in the key hook's file ({name: {"sha256": hex}})."""
    tmp.mkdir(parents=True, exist_ok=True)
    backends = [{"api_base": f"{r.url}/v1"} for r in replicas]
    # The role's affinity off: ROUTER_SETTINGS decide it (the bench compares both ways).
    path = render_gateway_config(
        tmp,
        replicas[0].url,
        {"litellm_gateway_backends": backends, "litellm_gateway_affinity": "never"},
    )
    config = yaml.safe_load(path.read_text())
    config["router_settings"] = {**config.get("router_settings", {}), **(router_settings or {})}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    keys = {f"LITELLM_BACKEND_KEY_{i}": STANDIN_KEY for i in range(1, len(replicas) + 1)}
    proc, gateway = launch_gateway(
        tmp,
        path,
        {**keys, **(extra_env or {})},
        workers=workers,
        developers=developers,
        ready_seconds=180,
    )
    return FleetGateway(gateway.url, gateway.master_key, gateway.log, config, proc)
