"""LiteLLM supply-chain guard: one piece of code for every place ccprov checks LiteLLM.

PyPI litellm 1.82.7 and 1.82.8 shipped credential-stealing malware; 1.82.8 ran it from a
`litellm_init.pth` file at every interpreter start. This module:
- judges a requested version against a denylist and a minimum (`version_problem`);
- audits a lock file (`lock_problems`) and an installed venv (`venv_problems`);
- scans a whole host for compromised installs and code-running .pth files (`audit`).

Used by the litellm_guard Ansible module (gateway and workstation proxy installs) and,
sent over SSH to `python3 -`, by `ccprov audit`. Standard library only, Python >= 3.7.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

DEFAULT_POLICY: dict[str, Any] = {
    "denylist": ["1.82.7", "1.82.8"],
    "roots": ["/opt", "/usr/lib", "/usr/local/lib", "/srv", "/var/lib", "/home", "/root"],
    "max_depth": 7,
    # .pth files that legitimately run code, by name pattern.
    "allowed_pth": [
        r"^distutils-precedence\.pth$",
        r"^_virtualenv\.pth$",
        r"^__editable__\..*\.pth$",
        r"^__editable___.*_finder\.pth$",
        r"^.*-nspkg\.pth$",
        r"^easy-install\.pth$",
        r"^setuptools\.pth$",
        r"^coverage\.pth$",
        r"^_pytest_.*\.pth$",
        r"^matplotlib\.pth$",
        r"^protobuf-.*-nspkg\.pth$",
        r"^pywin32\.pth$",
    ],
    # Always reported, whatever else: the 1.82.8 payload's file name.
    "known_bad_pth": [r"^litellm_init\.pth$"],
}

# Pseudo file systems (only directly under /) and trees that never hold an environment.
SKIP_TOP = {"/proc", "/sys", "/dev", "/run"}
SKIP_NAMES = {"node_modules", ".git", "__pycache__", ".cache"}


def find_site_dirs(roots: list[str], max_depth: int) -> list[str]:
    """Every site-packages / dist-packages directory below the roots."""
    found: list[str] = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        base_depth = root.rstrip("/").count("/")
        for current, dirs, _files in os.walk(root, followlinks=False):
            depth = current.count("/") - base_depth
            keep = []
            for name in dirs:
                if name in ("site-packages", "dist-packages"):
                    found.append(os.path.join(current, name))
                elif (
                    name not in SKIP_NAMES
                    and os.path.join(current, name) not in SKIP_TOP
                    and depth < max_depth
                ):
                    keep.append(name)
            dirs[:] = keep
    return sorted(set(found))


def litellm_versions(site_dir: str) -> list[dict[str, str]]:
    versions: list[dict[str, str]] = []
    try:
        names = os.listdir(site_dir)
    except OSError:
        return versions
    for name in names:
        match = re.match(r"^litellm-([^-]+)\.(dist-info|egg-info)$", name, re.I)
        if not match:
            continue
        version = match.group(1)
        metadata = os.path.join(site_dir, name, "METADATA")
        if not os.path.exists(metadata):
            metadata = os.path.join(site_dir, name, "PKG-INFO")
        try:
            with open(metadata, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.startswith("Version:"):
                        version = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        versions.append({"path": os.path.join(site_dir, name), "version": version})
    return versions


def executable_pth(site_dir: str) -> list[dict[str, str]]:
    """.pth files with an `import` line: Python executes those lines at every start."""
    found: list[dict[str, str]] = []
    try:
        names = sorted(os.listdir(site_dir))
    except OSError:
        return found
    for name in names:
        if not name.endswith(".pth"):
            continue
        path = os.path.join(site_dir, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        code = [ln for ln in lines if ln.startswith(("import ", "import\t"))]
        if code:
            found.append({"path": path, "name": name, "first_line": code[0][:120]})
    return found


def audit(policy: dict[str, Any]) -> dict[str, Any]:
    denylist = set(policy["denylist"])
    allowed = [re.compile(p) for p in policy["allowed_pth"]]
    known_bad = [re.compile(p) for p in policy["known_bad_pth"]]
    findings: list[dict[str, str]] = []
    installs: list[dict[str, str]] = []
    site_dirs = find_site_dirs(policy["roots"], policy["max_depth"])
    for site_dir in site_dirs:
        for item in litellm_versions(site_dir):
            installs.append(item)
            if item["version"] in denylist:
                findings.append(
                    {
                        "severity": "critical",
                        "path": item["path"],
                        "what": f"litellm {item['version']} is a compromised release",
                    }
                )
        for pth in executable_pth(site_dir):
            if any(p.match(pth["name"]) for p in known_bad):
                findings.append(
                    {
                        "severity": "critical",
                        "path": pth["path"],
                        "what": f"known malicious .pth ({pth['first_line']})",
                    }
                )
            elif not any(p.match(pth["name"]) for p in allowed):
                findings.append(
                    {
                        "severity": "warning",
                        "path": pth["path"],
                        "what": f"unexpected .pth runs code at start: {pth['first_line']}",
                    }
                )
    return {"site_dirs": len(site_dirs), "litellm": installs, "findings": findings}


def parse_version(text: str) -> tuple[int, ...]:
    """'1.82.8' -> (1, 82, 8); a suffix such as '.post1' or 'rc1' ends the comparison."""
    parts: list[int] = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group(0)))
        if digits.group(0) != piece:
            break
    return tuple(parts)


def version_problem(version: str, denylist: list[str], minimum: str) -> str | None:
    """Why `version` must not be installed, or None."""
    if not re.match(r"^\d+(\.\d+)*([.-]?(post|rc|a|b|dev)\d*)?$", version or ""):
        return f"litellm version {version!r} is not an exact version; pin one, e.g. 1.106.2"
    if version in denylist:
        return (
            f"litellm {version} is denylisted: PyPI releases 1.82.7 and 1.82.8 shipped"
            " credential-stealing malware (and the denylist names this one). Pin a vetted"
            " release such as 1.106.2 (litellm_gateway_version)."
        )
    if parse_version(version) < parse_version(minimum):
        return f"litellm {version} is older than the minimum {minimum}; pin {minimum} or newer."
    return None


def lock_problems(text: str, version: str, denylist: list[str]) -> list[str]:
    """A hash-locked requirements file: every requirement pinned with hashes, litellm at
    the pin, nothing denylisted."""
    problems: list[str] = []
    requirements = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)([^\n]*)", text, re.M)
    if not requirements:
        problems.append("the lock file pins no requirement")
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-\[\]]+==)", text)
    for block in blocks:
        head = block.strip().splitlines()[0] if block.strip() else ""
        if "==" in head and not head.startswith("#") and "--hash=sha256:" not in block:
            problems.append(f"requirement {head.split()[0]} has no --hash")
    pins = {name.split("[")[0].lower(): ver for name, ver, _ in requirements}
    if pins.get("litellm") != version:
        problems.append(
            f"the lock file pins litellm {pins.get('litellm', 'nothing')}, not {version}"
        )
    for name, ver in pins.items():
        if name == "litellm" and ver in denylist:
            problems.append(f"the lock file pins denylisted litellm {ver}")
    return problems


def venv_problems(venv: str, version: str, allowed_pth: list[str]) -> list[str]:
    """An installed venv: litellm at exactly the pin, and no .pth file outside the allowlist."""
    problems: list[str] = []
    site_dirs = find_site_dirs([venv], 4)
    if not site_dirs:
        return [f"{venv} has no site-packages: is it a venv?"]
    allowed = [re.compile(p) for p in allowed_pth]
    installed: list[str] = []
    for site_dir in site_dirs:
        installed += [item["version"] for item in litellm_versions(site_dir)]
        for name in sorted(os.listdir(site_dir)):
            if name.endswith(".pth") and not any(p.match(name) for p in allowed):
                problems.append(
                    f"unexpected {name} in {site_dir}: .pth files run at every interpreter"
                    " start (the 1.82.8 malware did this); remove the venv and reinstall"
                )
    if installed != [version]:
        found = ", ".join(installed) or "missing"
        problems.append(f"installed litellm is {found}, expected exactly {version}")
    return problems


def main(argv: list[str]) -> int:
    policy = dict(DEFAULT_POLICY)
    if len(argv) > 1:
        policy.update(json.loads(argv[1]))
    json.dump(audit(policy), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
