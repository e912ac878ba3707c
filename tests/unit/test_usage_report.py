"""`ccprov usage`'s data side (src/ccprov/fleet/usage.py, usage_probe.py): the probe selects a
gateway's lines since a time, the report aggregates them with exact numbers."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ccprov.errors import CcprovError
from ccprov.fleet import usage
from ccprov.probes import usage_probe

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def line(ts: str, developer: str | None = "alice", **over: Any) -> str:
    """A log line as roles/litellm_gateway/files/ccprov_usage.py writes it."""
    data: dict[str, Any] = {
        "ts": ts,
        "developer": developer,
        "model": "devstral",
        "backend": "gpu1:8000",
        "status": 200,
        "error": None,
        "stream": True,
        "input_tokens": 100,
        "output_tokens": 10,
        "cached_tokens": 50,
        "ttft_ms": 100.0,
        "total_ms": 900.0,
        "session": "s-1",
    }
    data.update(over)
    return json.dumps(data, separators=(",", ":"))


LINES = [
    line("2026-11-29T08:00:00.000Z", ttft_ms=100.0),
    line("2026-11-29T09:00:00.000Z", ttft_ms=300.0, input_tokens=200, cached_tokens=150),
    line("2026-11-30T10:00:00.000Z", ttft_ms=200.0, backend="gpu2:8000"),
    line("2026-11-30T10:30:00.000Z", status=429, error="ProxyRateLimitError", backend=None,
         input_tokens=0, output_tokens=0, cached_tokens=0, ttft_ms=None),
    line("2026-11-29T10:00:00.000Z", "bob", input_tokens=1000, output_tokens=5,
         cached_tokens=0, ttft_ms=50.0),
    line("2026-11-30T11:00:00.000Z", None, status=401, error="ProxyException", backend=None,
         input_tokens=0, output_tokens=0, cached_tokens=0, ttft_ms=None),
    line("2026-10-01T10:00:00.000Z", "carol", ttft_ms=10.0),  # before the window
]  # fmt: skip


def records() -> list[usage.Record]:
    found, skipped = usage.parse_lines("\n".join([*LINES, '{"ts": "cut sh', ""]), "gw1")
    assert skipped == 1
    return found


DEVELOPERS = {
    "alice": {"sha256": "a" * 64, "created": "2026-01-01"},
    "bob": {"sha256": "b" * 64, "created": dt.date(2026, 1, 1)},
    "carol": {"sha256": "c" * 64, "created": "2026-01-01"},
    "dave": {"sha256": "d" * 64, "created": "2026-01-01"},
    "erin": {"sha256": "e" * 64, "created": "2026-11-25"},  # new: not flagged yet
    "frank": {"sha256": "f" * 64, "created": "2026-01-01", "disabled": True},
}
SINCE = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def test_by_developer_exact_numbers() -> None:
    report = usage.report(records(), "developer", DEVELOPERS, NOW, SINCE)
    rows = {row.key: row.as_dict() for row in report.rows}
    assert rows["alice"] == {
        "key": "alice",
        "requests": 4,
        "input_tokens": 400,
        "output_tokens": 30,
        "cached_tokens": 250,
        "cache_share": 0.625,
        "errors": 1,
        "ttft_p50_ms": 200.0,
        "ttft_p95_ms": 300.0,
        "last_use": "2026-11-30T10:30:00.000Z",
    }
    assert (rows["bob"]["requests"], rows["bob"]["cache_share"], rows["bob"]["ttft_p50_ms"]) == (
        1,
        0.0,
        50.0,
    )
    assert rows[usage.REFUSED]["errors"] == 1 and rows[usage.REFUSED]["requests"] == 1
    # Developers of the keys inventory without a request in the window still get a row.
    assert (
        rows["carol"]["requests"] == 0 and rows["carol"]["last_use"] == "2026-10-01T10:00:00.000Z"
    )
    assert rows["dave"]["requests"] == 0 and rows["dave"]["last_use"] is None
    total = report.total.as_dict()
    assert (total["requests"], total["input_tokens"], total["output_tokens"]) == (6, 1400, 35)
    assert (total["errors"], total["cached_tokens"]) == (2, 250)
    assert report.idle == ["carol", "dave"]


def test_by_day_and_by_backend() -> None:
    by_day = usage.report(records(), "day", None, NOW, SINCE)
    assert [(r.key, r.requests, r.input_tokens) for r in by_day.rows] == [
        ("2026-11-29", 3, 1300),
        ("2026-11-30", 3, 100),
    ]
    by_backend = usage.report(records(), "backend", None, NOW, SINCE)
    assert [(r.key, r.requests, r.errors) for r in by_backend.rows] == [
        (usage.NO_BACKEND, 2, 2),
        ("gpu1:8000", 3, 0),
        ("gpu2:8000", 1, 0),
    ]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert usage.percentile(values, 50) == 10.0
    assert usage.percentile(values, 95) == 19.0
    assert usage.percentile([7.0], 95) == 7.0
    assert usage.percentile([], 50) is None


def test_table_and_json() -> None:
    report = usage.report(records(), "developer", DEVELOPERS, NOW, SINCE)
    table = report.table()
    assert table.splitlines()[1].split() == [
        "DEVELOPER", "REQUESTS", "TOKENS", "IN", "TOKENS", "OUT", "CACHE", "ERRORS",
        "TTFT", "P50", "TTFT", "P95", "LAST", "USE",
    ]  # fmt: skip
    alice = next(row for row in table.splitlines() if row.startswith("alice"))
    assert alice.split() == [
        "alice", "4", "400", "30", "62.5%", "1", "200", "ms", "300", "ms", "2026-11-30", "10:30",
    ]  # fmt: skip
    total = next(row for row in table.splitlines() if row.startswith("TOTAL"))
    assert total.split()[:6] == ["TOTAL", "6", "1400", "35", "17.9%", "2"]
    assert "No request in 30 days" in table and "carol, dave" in table
    data = json.loads(report.json())
    assert data["idle_developers"] == ["carol", "dave"]
    assert data["last_use"]["bob"] == "2026-11-29T10:00:00.000Z"
    assert data["since"] == "2026-11-23T00:00:00.000Z"
    assert {row["key"] for row in data["rows"]} >= {"alice", "bob", usage.REFUSED}


def test_since_spans_and_dates() -> None:
    assert usage.parse_since("7d", NOW) == NOW - dt.timedelta(days=7)
    assert usage.parse_since("12h", NOW) == NOW - dt.timedelta(hours=12)
    assert usage.parse_since("2w", NOW) == NOW - dt.timedelta(weeks=2)
    assert usage.parse_since("2026-11-01", NOW) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with pytest.raises(CcprovError, match="like 7d"):
        usage.parse_since("last week", NOW)
    with pytest.raises(CcprovError, match="--by must be one of developer, day, backend"):
        usage.report([], "host")
    assert usage.window_start(NOW - dt.timedelta(days=7), NOW) == NOW - dt.timedelta(days=30)


# --- The probe ---------------------------------------------------------------------------


def usage_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "usage"
    directory.mkdir()
    days: dict[str, list[str]] = {}
    for text in LINES:
        days.setdefault(json.loads(text)["ts"][:10], []).append(text)
    for day, texts in days.items():
        (directory / f"usage-{day}.jsonl").write_text("".join(t + "\n" for t in texts))
    (directory / "notes.txt").write_text("not a usage file\n")
    return directory


def test_the_probe_returns_the_lines_since_a_time(tmp_path) -> None:
    directory = usage_dir(tmp_path)
    found = usage_probe.collect(
        str(directory), "2026-11-29T09:00:00.000Z", "2026-10-01T00:00:00.000Z"
    )
    assert (found["files"], found["lines"], found["missing"]) == (3, 5, False)
    # Last use over the longer window: only the times, not the lines.
    assert found["last_use"] == {
        "alice": "2026-11-30T10:30:00.000Z",
        "bob": "2026-11-29T10:00:00.000Z",
        "carol": "2026-10-01T10:00:00.000Z",
    }
    records, skipped = usage.decode_probe(found, "gw1")
    assert skipped == 0
    assert sorted(usage.iso(r.ts) for r in records) == [
        "2026-11-29T09:00:00.000Z",
        "2026-11-29T10:00:00.000Z",
        "2026-11-30T10:00:00.000Z",
        "2026-11-30T10:30:00.000Z",
        "2026-11-30T11:00:00.000Z",
    ]
    assert usage_probe.collect(str(tmp_path / "nope"), "2026-11-01")["missing"] is True


def test_the_probe_runs_as_a_script_and_names_the_fix_when_it_cannot_read(tmp_path) -> None:
    directory = usage_dir(tmp_path)
    source = Path(usage_probe.__file__)
    argument = json.dumps({"dir": str(directory), "since": "2026-11-30T00:00:00.000Z"})
    proc = subprocess.run(
        [sys.executable, str(source), argument], capture_output=True, text=True, check=True
    )
    assert json.loads(proc.stdout)["lines"] == 3
    script = (
        "import os, runpy, sys\n"
        "def refuse(path): raise PermissionError(13, 'Permission denied', path)\n"
        "os.listdir = refuse\n"
        f"sys.argv = ['probe', {argument!r}]\n"
        f"runpy.run_path({str(source)!r}, run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "permission denied; connect as root, as a member of group" in proc.stderr
    assert "litellm_gateway_usage_group" in proc.stderr


def test_gather_runs_the_probe_on_every_gateway(tmp_path) -> None:
    """Through the real inventory reader and fleet.run_probe, on local gateways."""
    directory = usage_dir(tmp_path)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  children:\n"
        "    gateways:\n      hosts:\n"
        f"        gw1: {{ansible_connection: local, litellm_gateway_usage_dir: {directory}}}\n"
        f"        gw2: {{ansible_connection: local, litellm_gateway_usage_dir: {tmp_path}/x}}\n"
        "    gpu_hosts:\n      hosts:\n        gpu1: {ansible_connection: local}\n"
    )
    since = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    found = usage.gather(inventory, since, become=False, now=NOW)
    assert found.gateways == ["gw1", "gw2"]
    assert len(found.records) == 3 and {r.gateway for r in found.records} == {"gw1"}
    assert found.problems == {}
    assert "no usage log yet" in found.notes["gw2"][0]
    # Last use over 30 days (from 2026-10-31): bob's request of 11-29 counts, carol's of
    # 10-01 is too old.
    assert {name: usage.iso(when) for name, when in found.last_use.items()} == {
        "alice": "2026-11-30T10:30:00.000Z",
        "bob": "2026-11-29T10:00:00.000Z",
    }
    report = usage.report(found.records, "developer", DEVELOPERS, NOW, since, found)
    assert report.total.requests == 3
    assert report.idle == ["carol", "dave"]
    rows = {row.key: row for row in report.rows}
    assert rows["bob"].requests == 0 and rows["bob"].last_use == found.last_use["bob"]
    assert "gw2: no usage log yet" in report.table()
    same = usage.collect_report(inventory, "12h", "day", DEVELOPERS, now=NOW)
    assert [(row.key, row.requests) for row in same.rows] == [("2026-11-30", 3)]
    with pytest.raises(CcprovError, match="no host of group gateways"):
        usage.gather(inventory, NOW, limit="gpu1")


def test_a_counted_line_of_refused_requests_counts_each() -> None:
    """The gateway writes refused requests as one line a minute with `count` (issue #28)."""
    counted = json.dumps(
        {"ts": "2026-11-30T11:01:00.000Z", "developer": None, "status": 401,
         "error": "ProxyException", "count": 300}
    )  # fmt: skip
    found, skipped = usage.parse_lines("\n".join([*LINES, counted]), "gw1")
    assert skipped == 0
    report = usage.report(found, "developer", DEVELOPERS, NOW, SINCE)
    refused = {row.key: row.as_dict() for row in report.rows}[usage.REFUSED]
    assert (refused["requests"], refused["errors"]) == (301, 301)
    assert report.total.as_dict()["requests"] == 306
