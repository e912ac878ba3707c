"""Run ccprov's playbooks through `ansible-playbook` as a subprocess.

Secrets go to Ansible in an extra-vars file (mode 0600, in a private temporary directory
that is removed afterwards), never on the command line or in the environment. SIGTERM,
SIGHUP (terminal closed) or SIGINT to ccprov stop ansible-playbook's whole process group
and remove that directory before ccprov exits (Interrupted).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccprov import paths
from ccprov.errors import CcprovError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# Seconds ansible-playbook gets to stop after SIGTERM before its process group is killed.
GRACE_SECONDS = 5.0


class Interrupted(CcprovError):
    """A stop signal arrived while a playbook ran: it was stopped, its files removed.
    Reported as one plain line; the exit status is 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(
            f"stopped by {signal.Signals(signum).name}: ansible-playbook stopped and the"
            " temporary files with your key removed; run the command again to finish",
            exit_code=128 + signum,
            plain=True,
        )


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """While inside: the first SIGTERM, SIGHUP or SIGINT raises Interrupted (later ones are
    ignored, so the clean-up it starts is not cut short). Main thread only; elsewhere the
    handlers stay as they are."""
    raised: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if not raised:
            raised.append(signum)
            raise Interrupted(signum)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def foreground_tty() -> int | None:
    """stdin's terminal when ccprov is the foreground job there, else None."""
    try:
        fd = sys.stdin.fileno()
        if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except (AttributeError, OSError, ValueError):
        pass
    return None


def give_terminal(fd: int | None, pgid: int) -> None:
    """Make PGID the terminal's foreground group (as a shell does for a job), so ssh can
    still ask about a host key. SIGTTOU is ignored meanwhile: ccprov may be in the
    background when it takes the terminal back."""
    if fd is None:
        return
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgid)
    finally:
        signal.signal(signal.SIGTTOU, old)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's process group, SIGKILL to what is left after GRACE_SECONDS."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(GRACE_SECONDS)
    # The leader may be gone while its workers (same group) still run.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


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
        # A stop signal now would cut the removal short: it is handled after it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


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
        raise CcprovError(
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
    """Run one of ccprov's playbooks and return what happened. Raises Interrupted after a
    stop signal (the playbook stopped, the private directory removed)."""
    with stop_signals_raise(), private_dir() as tmp:
        inventory_file = write_private(tmp / "inventory.json", inventory)
        vars_file = write_private(tmp / "vars.json", extra_vars)
        summary_file = tmp / "summary.json"
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_CONFIG": str(paths.data_dir() / "ansible.cfg"),
                "ANSIBLE_ROLES_PATH": str(paths.data_dir() / "roles"),
                "ANSIBLE_COLLECTIONS_PATH": paths.collections_path(
                    os.environ.get("ANSIBLE_COLLECTIONS_PATH")
                ),
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
        returncode = _run_in_own_group(command, env)
        summary = RunSummary(returncode=returncode)
        if summary_file.exists():
            data = json.loads(summary_file.read_text(encoding="utf-8"))
            for key in ("ok", "changed", "failed", "skipped", "unreachable"):
                setattr(summary, key, int(data.get(key, 0)))
            summary.seconds = float(data.get("seconds", 0.0))
            summary.failures = list(data.get("failures", []))
        return summary


def _run_in_own_group(command: list[str], env: dict[str, str]) -> int:
    """Run COMMAND in a process group of its own (the terminal's foreground one when ccprov
    had it); on Interrupted stop that whole group before re-raising."""
    tty = foreground_tty()
    process: subprocess.Popen[bytes] | None = None
    try:
        try:
            process = subprocess.Popen(command, env=env, process_group=0)
        except OSError as exc:
            raise CcprovError(f"cannot start ansible-playbook: {exc}") from exc
        if tty is None:
            return process.wait()
        give_terminal(tty, process.pid)
        return _wait_in_foreground(process, tty)
    except Interrupted:
        if process is not None:
            stop_group(process)
        raise
    finally:
        give_terminal(tty, os.getpgrp())


def _wait_in_foreground(process: subprocess.Popen[bytes], tty: int) -> int:
    """Wait for the child that has the terminal. Ctrl-Z stops its group, not ccprov: then
    ccprov takes the terminal back and stops too, so the shell sees the job stop; `fg`
    continues ccprov, which hands the terminal back and continues the child."""
    with contextlib.suppress(ProcessLookupError):
        # It may have tried the terminal before it was given it (SIGTTIN stops it).
        os.killpg(process.pid, signal.SIGCONT)
    while True:
        _, status = os.waitpid(process.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode
        give_terminal(tty, os.getpgrp())
        os.kill(os.getpid(), signal.SIGSTOP)
        give_terminal(tty, process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGCONT)
