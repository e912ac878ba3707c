"""Run ccprov's playbooks through `ansible-playbook` as a subprocess.

Secrets go to Ansible in an extra-vars file (mode 0600, in a private temporary directory
that is removed afterwards), never on the command line or in the environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccprov import paths


class RunnerError(RuntimeError):
    """Ansible could not be started; the message says why."""


@dataclass
class RunSummary:
    returncode: int
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    seconds: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not self.failed and not self.unreachable


@contextmanager
def private_dir() -> Iterator[Path]:
    """A 0700 temporary directory, removed with everything in it on exit."""
    path = Path(tempfile.mkdtemp(prefix="ccprov-"))
    try:
        os.chmod(path, 0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_private(path: Path, data: Any) -> Path:
    """Write JSON readable by the owner only, created with 0600 from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return path


def ansible_playbook() -> str:
    """The ansible-playbook next to this Python (same venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if not found:
        raise RunnerError(
            "ansible-playbook not found: reinstall ccprov (it depends on ansible-core)"
        )
    return found


def run_playbook(
    playbook: str,
    inventory: dict[str, Any],
    extra_vars: dict[str, Any],
    *,
    check: bool = False,
    verbose: int = 0,
    local: bool = False,
) -> RunSummary:
    """Run one of ccprov's playbooks and return what happened."""
    with private_dir() as tmp:
        inventory_file = write_private(tmp / "inventory.json", inventory)
        vars_file = write_private(tmp / "vars.json", extra_vars)
        summary_file = tmp / "summary.json"
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_CONFIG": str(paths.data_dir() / "ansible.cfg"),
                "ANSIBLE_ROLES_PATH": str(paths.data_dir() / "roles"),
                "ANSIBLE_CALLBACK_PLUGINS": str(paths.callback_dir()),
                "ANSIBLE_STDOUT_CALLBACK": "default" if verbose else "ccprov_progress",
                "ANSIBLE_HOME": str(tmp / "ansible-home"),
                "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
                "ANSIBLE_RETRY_FILES_ENABLED": "false",
                # The inventory is always the JSON file written here: skip the other parsers.
                "ANSIBLE_INVENTORY_ENABLED": "ansible.builtin.yaml",
                "ANSIBLE_DEPRECATION_WARNINGS": "false",
                "ANSIBLE_SYSTEM_WARNINGS": "false",
                "CCPROV_SUMMARY_FILE": str(summary_file),
            }
        )
        if local:
            env["ANSIBLE_REMOTE_TEMP"] = str(tmp / "ansible-remote")
        command = [
            ansible_playbook(),
            str(paths.playbook(playbook)),
            "-i",
            str(inventory_file),
            "-e",
            f"@{vars_file}",
        ]
        if check:
            command += ["--check", "--diff"]
        if verbose:
            command.append("-" + "v" * verbose)
        try:
            completed = subprocess.run(command, env=env, check=False)
        except OSError as exc:
            raise RunnerError(f"cannot start ansible-playbook: {exc}") from exc
        summary = RunSummary(returncode=completed.returncode)
        if summary_file.exists():
            data = json.loads(summary_file.read_text(encoding="utf-8"))
            for key in ("ok", "changed", "failed", "skipped", "unreachable"):
                setattr(summary, key, int(data.get(key, 0)))
            summary.seconds = float(data.get("seconds", 0.0))
            summary.failures = list(data.get("failures", []))
        return summary
