"""Root probes and what other users plant (issue #28 finding 5): the usage probe runs as root
in a directory the gateway's user owns, the audit as root over every site-packages. A planted
symlink is never followed (it could point at /etc/shadow) and a FIFO never hangs them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ccprov import guard, usage_probe

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
