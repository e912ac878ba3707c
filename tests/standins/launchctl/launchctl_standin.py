"""Stand-in for macOS's launchctl, the four subcommands ccprov-vibe-proxy and the workstation
role use on a user agent, for the control script's launchd branch (there is no Mac here).

    launchctl_standin.py STATE_DIR print|bootstrap|kickstart|bootout ARGS...

As launchctl(1) describes them, strictly where the script could get them wrong:
- `print gui/<uid>[/<label>]`: status 0 if that domain (always, for this uid) or service
  (loaded) exists, else non-zero ("Could not find service").
- `bootstrap gui/<uid> <plist>`: loads the agent (the plist must parse, its Label and
  ProgramArguments must be there; an agent already loaded is an error, as on macOS:
  "Bootstrap failed: 5: Input/output error"), and with RunAtLoad starts ProgramArguments
  with its WorkingDirectory, Umask and Standard{Out,Error}Path.
- `kickstart [-k] gui/<uid>/<label>`: starts a loaded service that is not running (-k: kills
  it first); not loaded: non-zero.
- `bootout gui/<uid>/<label>`: SIGTERM to the running program, waits for it, unloads.
A domain other than gui/<this uid> is refused. KeepAlive is not emulated.
STATE_DIR holds one JSON file per loaded label: its plist and the pid it runs.
"""

from __future__ import annotations

import json
import os
import plistlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def fail(message: str, status: int = 113) -> int:
    print(message, file=sys.stderr)
    return status


def domain_ok(target: str) -> tuple[bool, str]:
    parts = target.split("/", 2)
    if len(parts) < 2 or parts[0] != "gui" or parts[1] != str(os.getuid()):
        return False, ""
    return True, parts[2] if len(parts) == 3 else ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours is gone for launchd's purposes.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def start(agent: dict[str, Any]) -> int:
    log = agent.get("StandardErrorPath", os.devnull)
    with open(agent.get("StandardOutPath", os.devnull), "ab") as out, open(log, "ab") as err:
        umask = agent.get("Umask")
        proc = subprocess.Popen(
            agent["ProgramArguments"],
            cwd=agent.get("WorkingDirectory", "/"),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            umask=-1 if umask is None else int(umask),
        )
    return proc.pid


def main(argv: list[str]) -> int:
    state, command, args = Path(argv[0]), argv[1], argv[2:]
    state.mkdir(parents=True, exist_ok=True)
    if command == "kickstart" and args[:1] == ["-k"]:
        kill_first, args = True, args[1:]
    else:
        kill_first = False
    if not args:
        return fail(f"launchctl {command}: missing target", 64)
    ok, label = domain_ok(args[0])
    if not ok:
        return fail(f"launchctl {command}: {args[0]}: not this user's gui domain", 125)
    record = state / f"{label}.json"
    loaded = json.loads(record.read_text()) if label and record.exists() else None
    if command == "print":
        return 0 if not label or loaded else fail(f'Could not find service "{label}" in domain')
    if command == "bootstrap":
        agent = plistlib.loads(Path(args[1]).read_bytes())
        if not agent.get("Label") or not agent.get("ProgramArguments"):
            return fail("Bootstrap failed: 22: Invalid argument", 22)
        record = state / f"{agent['Label']}.json"
        if record.exists():
            return fail("Bootstrap failed: 5: Input/output error", 5)
        pid = start(agent) if agent.get("RunAtLoad") else 0
        record.write_text(json.dumps({"agent": agent, "pid": pid}))
        return 0
    if loaded is None:
        return fail(f'Could not find service "{label}" in domain for user gui: {os.getuid()}')
    if command == "kickstart":
        if loaded["pid"] and alive(loaded["pid"]):
            if not kill_first:
                return 0
            os.kill(loaded["pid"], signal.SIGKILL)
        loaded["pid"] = start(loaded["agent"])
        record.write_text(json.dumps(loaded))
        return 0
    if command == "bootout":
        if loaded["pid"] and alive(loaded["pid"]):
            os.kill(loaded["pid"], signal.SIGTERM)
            deadline = time.monotonic() + 20
            while alive(loaded["pid"]) and time.monotonic() < deadline:
                time.sleep(0.05)
        record.unlink()
        return 0
    return fail(f"launchctl: unknown subcommand {command}", 64)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
