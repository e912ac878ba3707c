"""Root probes and what other users plant (issue #28 finding 5): the usage probe runs as root
in a directory the gateway's user owns, the audit as root over every site-packages. A planted
symlink is never followed (it could point at /etc/shadow) and a FIFO never hangs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from ccprov.fleet import guard
from ccprov.probes import usage_probe

audit_probe = guard.load()
SECRET = "root:$y$j9T$not-a-real-hash:19000:0:99999:7:::"


def finishes(function, *args):
    """FUNCTION(*ARGS) run in a thread; its result, or a failure if it hangs for 20 s."""
    box: list[object] = []
    worker = threading.Thread(target=lambda: box.append(function(*args)), daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), f"{function.__name__} hung (a FIFO was opened blocking)"
    return box[0]


def plant(directory: Path, secret: Path) -> None:
    secret.write_text(SECRET + "\n")
    os.symlink(secret, directory / "usage-2026-12-01.jsonl")
    os.mkfifo(directory / "usage-2026-12-02.jsonl")
    (directory / "usage-2026-12-03.jsonl").write_text(
        '{"ts":"2026-12-03T10:00:00.000Z","developer":"alice","status":200}\n'
    )


def test_the_usage_probe_skips_planted_links_and_fifos(tmp_path) -> None:
    logs = tmp_path / "ccprov-usage"
    logs.mkdir()
    plant(logs, tmp_path / "shadow")
    found = finishes(usage_probe.collect, str(logs), "2026-11-30T00:00:00.000Z")
    assert found["files"] == 1 and found["lines"] == 1
    assert found["skipped"] == ["usage-2026-12-01.jsonl", "usage-2026-12-02.jsonl"]
    assert "not-a-real-hash" not in str(found)
    assert found["last_use"] == {"alice": "2026-12-03T10:00:00.000Z"}


def test_the_audit_reports_planted_pth_links_and_fifos_without_reading_them(tmp_path) -> None:
    site = tmp_path / "venv/lib/python3.11/site-packages"
    site.mkdir(parents=True)
    (tmp_path / "shadow").write_text(SECRET + "\n")
    os.symlink(tmp_path / "shadow", site / "evil.pth")
    os.mkfifo(site / "x.pth")
    policy = {**audit_probe.DEFAULT_POLICY, "roots": [str(tmp_path)]}
    report = finishes(audit_probe.audit, policy)
    odd = sorted((f["kind"], Path(f["path"]).name) for f in report["findings"])
    assert odd == [("pth-odd", "evil.pth"), ("pth-odd", "x.pth")]
    assert "not-a-real-hash" not in str(report)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping root's rights needs root")
def test_the_usage_probe_as_root_reads_only_what_the_usage_group_can(tmp_path) -> None:
    """A hard link (not a symlink: O_NOFOLLOW does not see it) to a root-only file, planted
    by the gateway's user, is skipped: as root the probe reads with the group's rights."""
    top = Path(tempfile.mkdtemp(prefix="ccprov-probe-"))  # pytest's tmp dirs are root-only
    try:
        top.chmod(0o711)
        logs = top / "ccprov-usage"
        logs.mkdir()
        os.chown(logs, 12345, 12346)
        logs.chmod(0o2750)
        mine = logs / "usage-2026-12-03.jsonl"
        mine.write_text('{"ts":"2026-12-03T10:00:00.000Z","developer":"alice","status":200}\n')
        os.chown(mine, 12345, 12346)
        mine.chmod(0o640)
        root_only = logs / "usage-2026-12-04.jsonl"
        root_only.write_text(f'{{"ts":"2026-12-04T10:00:00.000Z","developer":"{SECRET}"}}\n')
        root_only.chmod(0o600)
        wanted = json.dumps({"dir": str(logs), "since": "2026-11-30T00:00:00.000Z"})
        proc = subprocess.run(
            [sys.executable, usage_probe.__file__, wanted],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        found = json.loads(proc.stdout)
        assert found["files"] == 1 and found["skipped"] == ["usage-2026-12-04.jsonl"]
        assert "not-a-real-hash" not in proc.stdout
        assert found["last_use"] == {"alice": "2026-12-03T10:00:00.000Z"}
    finally:
        shutil.rmtree(top)
