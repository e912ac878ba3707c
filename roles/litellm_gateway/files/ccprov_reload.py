"""ExecReload of litellm.service (issue #29): a config change that cuts no stream.

LiteLLM 1.106.2 runs uvicorn 0.54 with --num_workers N > 1 under uvicorn's supervisor, the
service's main process. On SIGHUP (uvicorn/supervisors/multiprocess.py, handle_hup ->
restart_all) it starts a new worker, waits until it serves (within the unit's
--timeout_worker_healthcheck; the new worker reads config.yaml and the callbacks at its
start), then stops one old worker with SIGTERM, whose graceful shutdown finishes its
requests in flight; one worker at a time, on the same listening socket, so no connection
is refused. This sends that SIGHUP and waits until the old workers are gone, so
`systemctl reload litellm` returns once the new config serves.

Usage: python ccprov_reload.py MAINPID [SECONDS]. Standard library only.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def workers(parent: int) -> set[int]:
    """The supervisor's worker processes (multiprocessing spawn children)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        # The fields after the command name, which may hold spaces: state, ppid, ...
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
            found.add(int(entry))
    return found


def main(argv: list[str]) -> int:
    supervisor = int(argv[1])
    limit = float(argv[2]) if len(argv) > 2 else 100.0
    old = workers(supervisor)
    if not old:
        print("ccprov_reload: no uvicorn workers under the main process", file=sys.stderr)
        return 1
    os.kill(supervisor, signal.SIGHUP)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not old & workers(supervisor):
            return 0
        time.sleep(0.5)
    if not workers(supervisor) - old:
        # uvicorn kills a new worker that is not ready in time and keeps the old ones.
        print(
            "ccprov_reload: LiteLLM's new workers did not start; the old ones still serve the "
            "previous config (journalctl -u litellm)",
            file=sys.stderr,
        )
        return 1
    print(
        f"ccprov_reload: after {limit:.0f}s an old LiteLLM worker still finishes a stream; "
        "the rest are replaced when it ends",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
