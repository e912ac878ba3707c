"""The systemd units' sandboxing, measured: each unit template rendered by Ansible with its
role's own defaults and vars, scored by `systemd-analyze security --offline=true` (issue
#17). Lower is better; 10 is no sandbox at all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import role_templates

# name -> (role, template under its templates/, systemd-analyze --user, highest exposure)
UNITS: dict[str, tuple[str, str, bool, float]] = {
    "litellm.service": (
        "litellm_gateway",
        "etc/systemd/system/litellm.service.j2",
        False,
        2.0,
    ),
    "nginx.service": ("litellm_gateway", "etc/systemd/system/nginx.service.j2", False, 2.0),
    "vllm.service": ("vllm_server", "etc/systemd/system/vllm.service.j2", False, 2.5),
    "ccprov-vibe-proxy.service": (
        "workstation",
        "home/.config/systemd/user/ccprov-vibe-proxy.service.j2",
        True,
        5.0,
    ),
}
# The workstation role looks its account up in facts; a fixed one instead.
EXTRA_VARS = {"workstation_user": "dev", "workstation_home": "/home/dev"}
SCORE = re.compile(r"Overall exposure level for (\S+): (\d+\.\d+)")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All the units, rendered in one ansible-playbook run: each with its role's
    defaults/main.yml and vars/main.yml and the roles' filter plugins."""
    tmp = tmp_path_factory.mktemp("units")
    jobs = [
        role_templates.Job(role, template, tmp / name)
        for name, (role, template, _, _) in UNITS.items()
    ]
    proc = role_templates.render(tmp / "render", jobs, EXTRA_VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp


def exposure(unit: Path, user: bool) -> float:
    """`systemd-analyze security --offline=true` of one unit file: its overall exposure."""
    command = ["systemd-analyze", "security", "--offline=true", "--no-pager"]
    env = dict(os.environ)
    if user:
        command.append("--user")
        # --user looks up the user manager's runtime directory even offline.
        runtime = unit.parent / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
    proc = subprocess.run(
        [*command, str(unit)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    match = SCORE.search(output)
    assert match, f"no exposure level in the output of {' '.join(command)} {unit}:\n{output}"
    assert match.group(1) == unit.name, output
    return float(match.group(2))


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd)",
)
@pytest.mark.parametrize("name", list(UNITS))
def test_unit_exposure_is_within_its_limit(rendered: Path, name: str) -> None:
    _, _, user, limit = UNITS[name]
    unit = rendered / name
    # Rendered from the template, not an empty file: the variables were filled in.
    text = unit.read_text()
    assert "ExecStart=" in text and "{{" not in text, text
    score = exposure(unit, user)
    print(f"\n{name}: systemd-analyze security exposure {score} (limit {limit})")
    assert score <= limit, (
        f"{name}: exposure {score} > {limit}; see `systemd-analyze security --offline=true"
        f"{' --user' if user else ''} {unit}`"
    )


def test_vllm_keeps_its_gpus_and_jit(rendered: Path) -> None:
    """The GPU device nodes stay allowed under DevicePolicy=closed, and nothing forbids
    writable executable memory (torch.compile, Triton, the CUDA driver JIT)."""
    lines = (rendered / "vllm.service").read_text().splitlines()
    assert "DevicePolicy=closed" in lines
    for device_class in ("char-nvidia-frontend", "char-nvidia-uvm", "char-nvidia-caps"):
        assert f"DeviceAllow={device_class} rw" in lines
    for directive in ("PrivateDevices=", "MemoryDenyWriteExecute=", "ProcSubset="):
        assert not any(line.startswith(directive) for line in lines), directive


def test_vibe_proxy_sees_only_its_own_part_of_the_home(rendered: Path) -> None:
    text = (rendered / "ccprov-vibe-proxy.service").read_text()
    assert "ProtectHome=tmpfs" in text
    assert "PrivateUsers=true" in text
    binds = " ".join(
        line.partition("=")[2]
        for line in text.splitlines()
        if line.startswith(("BindPaths=", "BindReadOnlyPaths="))
    )
    assert "/home/dev/.ssh" not in binds and "/home/dev " not in f"{binds} "
    assert "-/home/dev/.local/state/ccprov" in binds
    # Nothing that changes the capability bounding set or insists on a mount namespace:
    # the unit must still start where unprivileged user namespaces are denied.
    for directive in (
        "CapabilityBoundingSet=",
        "PrivateDevices=",
        "ProtectClock=",
        "ProtectKernelLogs=",
        "ProtectKernelModules=",
        "TemporaryFileSystem=",
    ):
        assert not any(line.startswith(directive) for line in text.splitlines()), directive


def test_litellm_unit_keeps_its_stop_settings(rendered: Path) -> None:
    text = (rendered / "litellm.service").read_text()
    assert "KillMode=mixed" in text.splitlines()
    assert "TimeoutStopSec=30" in text.splitlines()
