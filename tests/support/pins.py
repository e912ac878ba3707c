"""The LiteLLM and vLLM releases ccprov installs, read from their hash locks: the locks are
where each version is written (issue #32), and tests take it from here, not as a literal.
A bump is a new lock (see the role READMEs) plus the role defaults that name it, which
tests/unit/test_pinned_defaults.py holds equal to the lock."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from tests.support.paths import REPO

# Each pinned package's lock folder: <package>-<version>.txt, compiled from <package>-<version>.in.
LOCK_DIRS = {
    "litellm": REPO / "roles/pinned_venv/files/requirements",
    "vllm": REPO / "roles/vllm_server/files/requirements",
}
# The upstream project's own spelling: a comment that cites a release this way ("vLLM 0.33.0's
# check") says what that release does, so tests/unit/test_single_facts.py reads it as prose.
UPSTREAM_NAMES = {"litellm": "LiteLLM", "vllm": "vLLM"}


def lock_file(package: str) -> Path:
    """The package's one hash lock; two would leave the pinned release ambiguous."""
    locks = sorted(LOCK_DIRS[package].glob(f"{package}-*.txt"))
    if len(locks) != 1:
        names = [p.name for p in locks]
        raise AssertionError(f"expected one {package}-<version>.txt lock, found {names}")
    return locks[0]


@cache
def version(package: str) -> str:
    """The release the lock pins (its `package==X` line), checked against its file name."""
    lock = lock_file(package)
    pins = re.findall(rf"^{re.escape(package)}==(\S+)", lock.read_text(), re.M)
    if len(pins) != 1 or lock.name != f"{package}-{pins[0]}.txt":
        raise AssertionError(f"{lock} pins {package} {pins}, not what its name says")
    return str(pins[0])


# (role, variable, package): the role defaults that name a pinned release. Ansible needs the
# value written there; tests/unit/test_pinned_defaults.py holds each equal to the lock's.
PINNED_DEFAULTS = [
    ("litellm_gateway", "litellm_gateway_version", "litellm"),
    ("workstation", "workstation_vibe_proxy_version", "litellm"),
    ("vllm_server", "vllm_server_version", "vllm"),
]

LITELLM = version("litellm")
VLLM = version("vllm")
