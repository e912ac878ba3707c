"""Run one self-contained Python probe on many hosts in parallel, over SSH with Fabric.

The probe's source travels base64-encoded in the command itself (nothing is copied or
left behind, and no stdin end-of-file is needed); it prints one JSON document, which
comes back as a dict per host.

Host keys are checked like OpenSSH does: ~/.ssh/known_hosts (and /etc/ssh/ssh_known_hosts)
must hold the host's key, or the host is not contacted (paramiko RejectPolicy; Fabric's own
default accepts any key). With accept_new_host_keys an unknown key is added and saved to
~/.ssh/known_hosts (StrictHostKeyChecking=accept-new); a changed key always fails. A host
whose inventory turns checking off (as Ansible reads it) is not checked, and the report says so.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import shlex
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from ccprov.fleet import hostile
from ccprov.fleet.inventory import Host


@dataclass
class HostResult:
    host: Host
    data: dict[str, Any] | None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
_known_hosts_lock = threading.Lock()


def user_known_hosts() -> Path:
    return Path(os.path.expanduser("~/.ssh/known_hosts"))


def fingerprint(key: paramiko.PKey) -> str:
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


class UnknownHostKey(paramiko.SSHException):  # type: ignore[misc]  # paramiko is untyped
    pass


class RejectUnknownHostKey(paramiko.RejectPolicy):  # type: ignore[misc]
    """Refuse a host whose key is not in known_hosts, naming the way out."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise UnknownHostKey(
            f"host key of {hostname} ({fingerprint(key)}) is not in {user_known_hosts()}:"
            " check the fingerprint, then rerun with --accept-new-host-keys (adds it) or add"
            " it with ssh-keyscan"
        )


class AcceptNewHostKey(paramiko.AutoAddPolicy):  # type: ignore[misc]
    """Add an unknown host's key and append it to ~/.ssh/known_hosts (one writer at a time;
    paramiko's own save would rewrite the file from each thread's copy)."""

    def __init__(self) -> None:
        self.added: list[str] = []

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        path = user_known_hosts()
        with _known_hosts_lock:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        self.added.append(f"added host key {fingerprint(key)} of {hostname} to {path}")


class UncheckedHostKey(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """The inventory turned checking off for this host (throwaway test hosts): accept the
    key for this connection only, save nothing, and say so in the report."""

    def __init__(self) -> None:
        self.added = ["host key not checked: the inventory turns host key checking off"]

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        return None


def host_key_checking_off(host: Host) -> bool:
    """What Ansible honours too: ansible_host_key_checking false, or StrictHostKeyChecking=no
    in the host's SSH arguments."""
    flag = str(host.variables.get("ansible_host_key_checking", "true")).strip().lower()
    args = " ".join(
        str(host.variables.get(name, ""))
        for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args")
    )
    return flag in ("false", "no", "0", "off") or "stricthostkeychecking=no" in args.lower()


def _check_host_keys(
    client: paramiko.SSHClient, accept_new: bool, unchecked: bool = False
) -> paramiko.MissingHostKeyPolicy:
    policy: paramiko.MissingHostKeyPolicy
    if unchecked:
        policy = UncheckedHostKey()
    else:
        client.load_system_host_keys()  # ~/.ssh/known_hosts, if it exists
        if SYSTEM_KNOWN_HOSTS.is_file():
            with contextlib.suppress(OSError):
                client.load_system_host_keys(str(SYSTEM_KNOWN_HOSTS))
        policy = AcceptNewHostKey() if accept_new else RejectUnknownHostKey()
    client.set_missing_host_key_policy(policy)
    return policy


# Decode the probe from argv[1] and run it as __main__ with the remaining arguments.
_LOADER = (
    "import base64,sys;src=base64.b64decode(sys.argv[1]).decode();"
    "sys.argv=sys.argv[1:];exec(compile(src,'ccprov-probe','exec'),{'__name__':'__main__'})"
)


def _command(host: Host, source: str, args: list[str], become: bool | None = None) -> str:
    """The shell command; with become None: sudo -n unless the user is root (or unset),
    or when ansible_become is set."""
    python = str(host.variables.get("ansible_python_interpreter", "python3"))
    if "{{" in python or python.startswith("auto"):
        python = "python3"
    encoded = base64.b64encode(source.encode()).decode()
    command = " ".join(shlex.quote(part) for part in [python, "-c", _LOADER, encoded, *args])
    if become is None:
        become = host.user not in (None, "root") or bool(host.variables.get("ansible_become"))
    return f"sudo -n {command}" if become and host.connection != "local" else command


def _run_one(
    host: Host,
    source: str,
    args: list[str],
    timeout: float,
    become: bool | None = None,
    accept_new_host_keys: bool = False,
) -> HostResult:
    command = _command(host, source, args, become)
    notes: list[str] = []
    try:
        if host.connection == "local":
            proc = subprocess.run(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            out, err, code = proc.stdout, proc.stderr, proc.returncode
        else:
            from fabric import Connection

            connect_kwargs: dict[str, Any] = {"timeout": min(timeout, 15)}
            if host.key_file:
                connect_kwargs["key_filename"] = host.key_file
            with Connection(
                host.address, user=host.user, port=host.port, connect_kwargs=connect_kwargs
            ) as conn:
                policy = _check_host_keys(
                    conn.client, accept_new_host_keys, host_key_checking_off(host)
                )
                result = conn.run(
                    command,
                    in_stream=False,
                    hide=True,
                    warn=True,
                    timeout=timeout,
                )
                out, err, code = result.stdout, result.stderr, result.exited
                notes += getattr(policy, "added", [])
    except UnknownHostKey as exc:
        return HostResult(host, None, f"not scanned: {exc}")
    except paramiko.BadHostKeyException as exc:
        return HostResult(
            host,
            None,
            f"not scanned: the host key of {exc.hostname} ({fingerprint(exc.key)}) differs"
            f" from the one in known_hosts ({fingerprint(exc.expected_key)}): a man in the"
            " middle, or a reinstalled host; check, then fix known_hosts (ssh-keygen -R)",
        )
    except Exception as exc:  # any connection failure becomes one line in the table
        why = f"unreachable: {type(exc).__name__}: {exc}"
        return HostResult(host, None, hostile.printable(why))
    if code != 0:
        last = (err.strip().splitlines() or [f"exit {code}"])[-1]
        return HostResult(host, None, hostile.printable(f"probe failed: {last}"), notes)
    if len(out) > hostile.MAX_ANSWER_BYTES:
        return HostResult(host, None, f"probe answered {len(out)} bytes: more than any probe")
    try:
        data = json.loads(out)
    except (ValueError, RecursionError):
        return HostResult(host, None, "probe printed no JSON", notes)
    if not isinstance(data, dict):
        return HostResult(host, None, "probe answered JSON that is not an object", notes)
    return HostResult(host, data, None, notes)


def _quiet_paramiko() -> None:
    # paramiko logs tracebacks for unreachable hosts; the table already says "unreachable".
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def run_probe(
    hosts: list[Host],
    source: str,
    args: list[str] | None = None,
    *,
    forks: int = 25,
    timeout: float = 120.0,
    progress: Callable[[HostResult], None] | None = None,
    become: bool | None = None,
    accept_new_host_keys: bool = False,
) -> list[HostResult]:
    """Run the probe on every host, at most `forks` at a time; results in host order.

    become: None for the default rule (see _command), True / False to force sudo -n or not.
    accept_new_host_keys: add and save unknown host keys instead of refusing the host."""
    _quiet_paramiko()
    results: dict[str, HostResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts) or 1))) as pool:
        futures = {
            pool.submit(_run_one, h, source, args or [], timeout, become, accept_new_host_keys): h
            for h in hosts
        }
        for future in futures:
            result = future.result()
            results[result.host.name] = result
            if progress:
                progress(result)
    return [results[h.name] for h in hosts]
