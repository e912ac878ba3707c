"""A stop signal to `ccprov workstation` while ansible-playbook runs: the playbook's whole
process group is stopped, the 0600 vars file with the key is removed, one line, non-zero."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TOKEN = "sk-dev-signal-test-0123456789"

# A slow ansible-playbook: notes its pid and whether it got the vars file, starts a
# grandchild in its process group, and waits. IGNORE_TERM makes both ignore SIGTERM, so
# only the SIGKILL after the grace period stops them.
FAKE = """#!/bin/bash
[ -n "$IGNORE_TERM" ] && trap '' TERM
for arg in "$@"; do
  case $arg in @*) grep -q "$FAKE_TOKEN" "${arg#@}" && echo yes > "$FAKE_DIR/saw-key" ;; esac
done
sleep 300 &
echo "$$ $!" > "$FAKE_DIR/pids.tmp" && mv "$FAKE_DIR/pids.tmp" "$FAKE_DIR/pids"
wait
"""

# ccprov's CLI as installed, but with the ansible-playbook found on PATH (the fake) instead
# of the one beside this Python, and a short grace period.
LAUNCH = """
import shutil, sys
from ccprov import runner
runner.ansible_playbook = lambda: shutil.which("ansible-playbook")
runner.GRACE_SECONDS = 1.0
from ccprov.cli import main
sys.argv[0] = "ccprov"
main()
"""


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def sandbox(tmp_path: Path, fake_script: str, ignore_term: bool = False):
    """A HOME, a temp root, the fake ansible-playbook first on PATH and a 0600 key file:
    (environment, key file, the fake's notes directory, the temp root)."""
    bindir, fake_dir, tmproot, home = (tmp_path / d for d in ("bin", "fake", "tmp", "home"))
    for d in (bindir, fake_dir, tmproot, home):
        d.mkdir()
    fake = bindir / "ansible-playbook"
    fake.write_text(fake_script)
    fake.chmod(0o755)
    key_file = tmp_path / "gateway.key"
    key_file.write_text(TOKEN + "\n")
    key_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCPROV_", "ANTHROPIC_"))}
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(tmproot),
            "PATH": f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}",
            "FAKE_DIR": str(fake_dir),
            "FAKE_TOKEN": TOKEN,
            "IGNORE_TERM": "1" if ignore_term else "",
        }
    )
    return env, key_file, fake_dir, tmproot


@pytest.mark.parametrize(
    ("signum", "ignore_term"),
    [
        (signal.SIGTERM, False),
        (signal.SIGHUP, False),
        (signal.SIGINT, False),
        (signal.SIGTERM, True),
    ],
    ids=["TERM", "HUP", "INT", "TERM-ignored-then-KILL"],
)
def test_stop_signal_stops_the_playbook_and_removes_the_key(
    tmp_path: Path, signum: signal.Signals, ignore_term: bool
) -> None:
    env, key_file, fake_dir, tmproot = sandbox(tmp_path, FAKE, ignore_term)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", LAUNCH, "workstation", "--base-url", "http://127.0.0.1:9"),
            *("--token-file", str(key_file), "--yes", "--no-verify"),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (fake_dir / "pids").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the fake ansible-playbook never started"
            time.sleep(0.05)
        leader, grandchild = (int(p) for p in (fake_dir / "pids").read_text().split())
        # The key really was on disk under the temp root while the playbook ran.
        assert (fake_dir / "saw-key").read_text().strip() == "yes"
        assert any(TOKEN.encode() in f.read_bytes() for f in tmproot.rglob("*") if f.is_file())

        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if (fake_dir / "pids").exists():  # a failed run leaves no sleeper behind
            for pid in (int(p) for p in (fake_dir / "pids").read_text().split()):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    assert proc.returncode == 128 + signum, out + err
    assert err.strip().splitlines() == [
        f"ccprov workstation: stopped by {signum.name}: ansible-playbook stopped and the"
        " temporary files with your key removed; run the command again to finish"
    ]
    assert "Traceback" not in out + err
    for pid in (leader, grandchild):
        assert gone(pid), f"pid {pid} still runs"
    leftovers = [f for f in tmproot.rglob("*") if f.is_file() and TOKEN.encode() in f.read_bytes()]
    assert leftovers == []
    assert list(tmproot.iterdir()) == []


def test_on_a_terminal_the_playbook_gets_it_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    """On a terminal ansible-playbook is the foreground job (ssh can ask about a host key),
    so Ctrl-C reaches it directly; ccprov still removes the key and takes the terminal back."""
    # The fake notes the terminal's foreground group and its own, then sleeps in the foreground.
    fake = (
        "#!/bin/bash\n"
        'ps -o tpgid=,pgid= -p $$ > "$FAKE_DIR/groups.tmp"\n'
        'mv "$FAKE_DIR/groups.tmp" "$FAKE_DIR/groups"\n'
        "exec sleep 300\n"
    )
    env, key_file, fake_dir, tmproot = sandbox(tmp_path, fake)
    argv = [sys.executable, "-c", LAUNCH, "workstation", "--base-url", "http://127.0.0.1:9"]
    argv += ["--token-file", str(key_file), "--yes", "--no-verify"]
    pid, master = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal
        try:
            os.execve(argv[0], argv, env)  # noqa: S606 - argv is fixed
        finally:
            os._exit(127)
    output = b""
    group = "0"
    status = None
    try:
        deadline = time.monotonic() + 60
        while not (fake_dir / "groups").exists():
            assert time.monotonic() < deadline, "the fake ansible-playbook never started"
            time.sleep(0.05)
        time.sleep(0.1)
        foreground, group = (fake_dir / "groups").read_text().split()
        # The playbook's own group (not ccprov's) has the terminal.
        assert foreground == group and int(group) != pid
        os.write(master, b"\x03")  # Ctrl-C
        while status is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    output += os.read(master, 4096)
            done, code = os.waitpid(pid, os.WNOHANG)
            status = code if done else None
        assert status is not None, output
        with contextlib.suppress(OSError):
            while select.select([master], [], [], 0.1)[0] and (chunk := os.read(master, 4096)):
                output += chunk
    finally:
        os.close(master)
        if status is None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if int(group) > 1:  # never 0: that would be this test's own process group
            with contextlib.suppress(OSError):
                os.killpg(int(group), signal.SIGKILL)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1, text
    assert "Setup failed" in text and "Traceback" not in text
    assert gone(int(group))  # the playbook (its group leader) stopped
    assert list(tmproot.iterdir()) == []
