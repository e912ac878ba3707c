"""The workstation role's OS-dependent pieces (vars/main.yml, tasks/account.yml): the
passwd entry from macOS's Directory Services, the file a login bash reads, npm's CPU name
for OpenCode's platform packages, and the one line refusing a hash lock without wheels for
this OS and CPU. Tested in tests/unit/test_workstation_os.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# `dscl . -read /Users/NAME UniqueID NFSHomeDirectory`: "Key: value", or "Key:" and the value
# on the next line, indented by a space, when it holds a space (dscl(1)).
_DSCL = re.compile(r"^(\w+):(?: (.*)|\n (.*))$", re.MULTILINE)
# The order a login bash looks for its startup file (bash(1), INVOCATION).
_BASH_LOGIN = (".bash_profile", ".bash_login", ".profile")
# uname -m (Ansible's architecture fact) -> npm's process.arch in package names.
_NPM_CPU = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
# The collection's roles, beside its plugins (a checkout, the wheel's copy, an install).
_ROLES = Path(__file__).resolve().parents[2] / "roles"


def workstation_dscl_entry(stdout: str) -> list[str]:
    """A passwd-like entry ['x', uid, '', '', home] from dscl's output, [] if incomplete."""
    fields = {m[1]: (m[2] if m[2] is not None else m[3]) for m in _DSCL.finditer(stdout)}
    uid, home = fields.get("UniqueID", ""), fields.get("NFSHomeDirectory", "")
    if not uid.isdigit() or not home.startswith("/"):
        return []
    return ["x", uid, "", "", home]


def workstation_bash_login(existing: list[str]) -> str:
    """The startup file a login bash reads, given the names of those that exist in the home:
    the first of ~/.bash_profile, ~/.bash_login, else ~/.profile (then made, shadowing
    nothing)."""
    names = {name.rsplit("/", 1)[-1] for name in existing}
    return next((name for name in _BASH_LOGIN[:2] if name in names), _BASH_LOGIN[2])


def _requirement(name: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}"


def workstation_lock_refusal(
    package: str,
    version: str,
    lock: str,
    wheel_cpus: dict[str, list[str]],
    os_label: str,
    arch: str,
    what: str,
    flag: str,
) -> str:
    """Why PACKAGE VERSION's hash lock (LOCK, its path below the collection's roles/) cannot
    be installed on this OS and CPU, in one line, or '' when it can. WHEEL_CPUS (vars/<family>.yml):
    requirement `name==version` -> the only CPUs it has a wheel for on this OS; a lock that
    pins one has no more, whatever release it is the lock of. A missing lock is '' here
    (pinned_venv's preflight names it)."""
    if not wheel_cpus:
        return ""
    try:
        text = (_ROLES / lock).read_text(encoding="utf-8")
    except OSError:
        return ""
    pinned = {_requirement(*m) for m in re.findall(r"^([\w.\-]+)==([^\s;\\]+)", text, re.M)}
    limits = [cpus for req, cpus in wheel_cpus.items() if _requirement(*req.split("==")) in pinned]
    cpus = [cpu for cpu in (limits[0] if limits else []) if all(cpu in c for c in limits)]
    if not limits or arch in cpus:
        return ""
    return (
        f"{what[:1].upper()}{what[1:]} needs {package} {version}, whose hash lock has no {os_label}"
        f" wheels of every package for {arch} (only {', '.join(cpus)}): leave {flag} out on"
        f" this machine, or pin a {package} release whose lock has them."
    )


def workstation_npm_cpu(architecture: str) -> str:
    """npm's name for the CPU ('x64', 'arm64'), '' for one OpenCode does not build for."""
    return _NPM_CPU.get(architecture, "")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "workstation_dscl_entry": workstation_dscl_entry,
            "workstation_bash_login": workstation_bash_login,
            "workstation_npm_cpu": workstation_npm_cpu,
            "workstation_lock_refusal": workstation_lock_refusal,
        }
