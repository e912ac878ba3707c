"""A real LiteLLM gateway on 127.0.0.1, installed from the role's own lock, with the role's
rendered config, unit environment and per-developer key hook."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support import role_templates
from tests.support.paths import REPO
from tests.support.standin import free_port

GATEWAY_ROLE = REPO / "roles/litellm_gateway"
WHEELHOUSE = REPO / ".cache/wheelhouse"  # tests/wheelhouse.sh
MASTER_KEY = "sk-e2e-master-0123456789abcdef0123"


def role_default(name: str) -> str:
    return str(yaml.safe_load((GATEWAY_ROLE / "defaults/main.yml").read_text())[name])


def ensure_litellm_venv() -> Path:
    """The pinned LiteLLM, installed exactly as the role does (hash-locked), cached."""
    version = role_default("litellm_gateway_version")
    lock = REPO / f"roles/pinned_venv/files/requirements/litellm-{version}.txt"
    venv = REPO / f".cache/litellm-{version}"
    marker = venv / ".ccprov-installed"
    # The lock's hash in the marker: a lock that gains a package (prometheus-client for the
    # metrics) rebuilds the venv.
    stamp = f"{version} {hashlib.sha256(lock.read_bytes()).hexdigest()}"
    if not marker.exists() or marker.read_text() != stamp:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # The same rules as the role: hashes, no resolver, wheels only. From the run's wheel
        # cache with the locked uv when tests/wheelhouse.sh has made them, else pip + index.
        rules = ["--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", str(lock)]
        if (WHEELHOUSE / "../uv/bin/uv").exists():
            installer = [str(WHEELHOUSE / "../uv/bin/uv"), "pip", "install", "-q", "--no-cache"]
            installer += ["--python", str(venv / "bin/python"), "--compile-bytecode"]
            rules += ["--no-index", "--find-links", str(WHEELHOUSE)]
        else:
            installer = [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*installer, *rules], check=True)
        marker.write_text(stamp)
    return venv


def render_gateway_config(
    tmp: Path, backend_url: str, extra_vars: dict[str, object] | None = None
) -> Path:
    """The role's own template and variables, rendered by Ansible for one backend (plus
    EXTRA_VARS, e.g. litellm_gateway_backend_route)."""
    dest = tmp / "config.yaml"
    proc = role_templates.render(
        tmp / "render",
        [role_templates.Job("litellm_gateway", "etc/litellm/config.yaml.j2", dest)],
        {"litellm_gateway_backends": [{"api_base": f"{backend_url}/v1"}], **(extra_vars or {})},
    )
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return dest


def add_model(config: Path, name: str, backend_url: str) -> None:
    """One more model on a rendered CONFIG: a copy of the role's first deployment (the same
    settings and backend key) named NAME, served by the backend at BACKEND_URL."""
    data = yaml.safe_load(config.read_text())
    deployment = copy.deepcopy(data["model_list"][0])
    deployment["model_name"] = name
    deployment["litellm_params"]["api_base"] = f"{backend_url}/v1"
    deployment["model_info"]["id"] = f"backend-{name}"
    data["model_list"].append(deployment)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


@dataclass
class Gateway:
    url: str
    master_key: str
    log: Path
    keys_file: Path

    def set_developers(self, developers: dict[str, dict[str, object]]) -> None:
        """Rewrite the key hashes, as the role's template does (the gateway re-reads it)."""
        self.keys_file.write_text(yaml.safe_dump({"developers": developers}))
        stamp = time.time_ns() + 1_000_000_000
        os.utime(self.keys_file, ns=(stamp, stamp))


def unit_environment() -> dict[str, str]:
    """The Environment= lines of the role's litellm.service (defaults filled in)."""
    unit = GATEWAY_ROLE / "templates/etc/systemd/system/litellm.service.j2"
    env: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        # Lines inside a Jinja condition carry a template: not a default.
        if line.startswith("Environment=") and "{{" not in line:
            key, _, value = line.removeprefix("Environment=").partition("=")
            env[key] = value
    env["LITELLM_LOG"] = role_default("litellm_gateway_log_level")
    return env


def start_gateway(
    tmp: Path,
    backend_url: str,
    backend_key: str,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    extra_vars: dict[str, object] | None = None,
) -> tuple[subprocess.Popen[bytes], Gateway]:
    """The real pinned LiteLLM with the role's config, unit environment and key hook."""
    config = render_gateway_config(tmp, backend_url, extra_vars)
    return launch_gateway(
        tmp,
        config,
        {"LITELLM_BACKEND_KEY_1": backend_key, **(extra_env or {})},
        workers=workers,
        extra_args=extra_args,
    )


def launch_gateway(
    tmp: Path,
    config: Path,
    env: dict[str, str],
    workers: int = 1,
    extra_args: tuple[str, ...] = (),
    developers: Mapping[str, Any] | None = None,
    ready_seconds: float = 120,
) -> tuple[subprocess.Popen[bytes], Gateway]:
    """The real pinned LiteLLM on CONFIG with the role's unit environment and key hook
    (DEVELOPERS in its keys file), plus ENV (the backends' keys), on a free loopback port;
    returns once /health/readiness answers."""
    venv = ensure_litellm_venv()
    # The key hook and the callbacks sit next to the config, as the role installs them.
    for module in sorted((GATEWAY_ROLE / "files").glob("ccprov_*.py")):
        shutil.copy(module, tmp / module.name)
    (tmp / "usage").mkdir(exist_ok=True)
    keys_file = tmp / "keys.yaml"
    keys_file.write_text(yaml.safe_dump({"developers": developers or {}}))
    port = free_port()
    log = tmp / "litellm.log"
    env = {
        **unit_environment(),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "CCPROV_KEYS_FILE": str(keys_file),
        "CCPROV_USAGE_DIR": str(tmp / "usage"),
        **env,
    }
    command = [
        str(venv / "bin/litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        str(workers),
        *extra_args,
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("LiteLLM exited at start:\n" + log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/health/readiness", timeout=2):
                return proc, Gateway(url, MASTER_KEY, log, keys_file)
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("LiteLLM did not become ready:\n" + log.read_text()[-3000:])


@contextlib.contextmanager
def route_gateway(tmp: Path, backend_url: str, backend_key: str, route: str) -> Iterator[Gateway]:
    """The real gateway on one backend route (litellm_gateway_backend_route), stopped after."""
    proc, gateway = start_gateway(
        tmp, backend_url, backend_key, extra_vars={"litellm_gateway_backend_route": route}
    )
    try:
        yield gateway
    finally:
        proc.terminate()
        proc.wait(timeout=20)
