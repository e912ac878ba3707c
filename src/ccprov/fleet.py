"""Run one self-contained Python probe on many hosts in parallel, over SSH with Fabric.

The probe's source travels base64-encoded in the command itself (nothing is copied or
left behind, and no stdin end-of-file is needed); it prints one JSON document, which
comes back as a dict per host.
"""

from __future__ import annotations

import base64
import json
import logging
import shlex
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ccprov.inventory import Host


@dataclass
class HostResult:
    host: Host
    data: dict[str, Any] | None
    error: str | None = None


# Decode the probe from argv[1] and run it as __main__ with the remaining arguments.
_LOADER = (
    "import base64,sys;src=base64.b64decode(sys.argv[1]).decode();"
    "sys.argv=sys.argv[1:];exec(compile(src,'ccprov-probe','exec'),{'__name__':'__main__'})"
)


def _command(host: Host, source: str, args: list[str]) -> str:
    python = str(host.variables.get("ansible_python_interpreter", "python3"))
    if "{{" in python or python.startswith("auto"):
        python = "python3"
    encoded = base64.b64encode(source.encode()).decode()
    command = " ".join(shlex.quote(part) for part in [python, "-c", _LOADER, encoded, *args])
    become = host.user not in (None, "root") or bool(host.variables.get("ansible_become"))
    return f"sudo -n {command}" if become and host.connection != "local" else command


def _run_one(host: Host, source: str, args: list[str], timeout: float) -> HostResult:
    command = _command(host, source, args)
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
                result = conn.run(
                    command,
                    in_stream=False,
                    hide=True,
                    warn=True,
                    timeout=timeout,
                )
                out, err, code = result.stdout, result.stderr, result.exited
    except Exception as exc:  # any connection failure becomes one line in the table
        return HostResult(host, None, f"unreachable: {type(exc).__name__}: {exc}"[:300])
    if code != 0:
        last = (err.strip().splitlines() or [f"exit {code}"])[-1]
        return HostResult(host, None, f"probe failed: {last}"[:300])
    try:
        return HostResult(host, json.loads(out))
    except ValueError:
        return HostResult(host, None, "probe printed no JSON")


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
) -> list[HostResult]:
    """Run the probe on every host, at most `forks` at a time; results in host order."""
    _quiet_paramiko()
    results: dict[str, HostResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts) or 1))) as pool:
        futures = {pool.submit(_run_one, h, source, args or [], timeout): h for h in hosts}
        for future in futures:
            result = future.result()
            results[result.host.name] = result
            if progress:
                progress(result)
    return [results[h.name] for h in hosts]
