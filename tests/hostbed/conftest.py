"""The site e2e's fleet, shared by tests/hostbed/test_site_e2e*.py: five test-bed hosts,
started once per run when a test asks for them (the molecule scenarios do not), deployed
with `ccprov ca init` and `ansible-playbook site.yml -i inventories/local`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import CLAUDE, REPO
from tests.hostbed import hosts as testbed
from tests.hostbed.site_bed import (
    ALL_AT_ONCE,
    HOSTS,
    INVENTORY,
    ops_bin,
    podman_exec,
    sh,
    site,
)
from tests.support import pins


@pytest.fixture(scope="session")
def hosts() -> Iterator[dict[str, str]]:
    # The GPU host's stand-in wheelhouse (inventories/local) is the run's wheel cache's.
    standin_lock = f"vllm-{pins.version('vllm')}.txt"  # the stand-in's, at vLLM's pinned release
    assert (REPO / ".cache/wheelhouse/standin" / standin_lock).exists(), (
        "no wheel cache: run tests/wheelhouse.sh (tests/stages/00-setup.sh does)"
    )
    testbed.start(HOSTS)
    # What cannot exist on a test host: a GPU (stand-in nvidia-smi) and, on the
    # workstation, the developer's own Claude Code install (the real binary, copied in).
    for gpu in ("ccprov-gpu1", "ccprov-gpu2"):
        sh(
            "podman",
            "cp",
            str(REPO / "tests/standins/nvidia-smi"),
            f"{gpu}:/usr/local/bin/nvidia-smi",
        )
    sh("podman", "cp", str(CLAUDE.resolve()), "ccprov-ws1:/usr/local/bin/claude")
    podman_exec("ccprov-ws1", "useradd", "--create-home", "--shell", "/bin/bash", "dev")
    try:
        yield HOSTS
    finally:
        testbed.remove(list(HOSTS))


@pytest.fixture(scope="session")
def deployed(hosts) -> str:
    # The private CA the gateway's certificate comes from, made as ops would (once; a
    # re-run keeps it).
    ca = sh(str(ops_bin() / "ccprov"), "ca", "init", "-i", str(INVENTORY), check=False)
    assert ca.returncode == 0, ca.stdout + ca.stderr
    # A fresh fleet has nothing to keep serving: every host at once, for CI time. The rolling
    # restarts and reloads are test_site_e2e_continuity.py's.
    proc = site(*ALL_AT_ONCE)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout
