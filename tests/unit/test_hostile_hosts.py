"""Fleet commands against hostile hosts (issue #28 finding 4): whatever one host answers,
the controller stays bounded, prints no raw control characters, and turns a bad answer
into that host's one line instead of crashing the command for every host."""

from __future__ import annotations

import base64
import datetime as dt
import json
import resource
import zlib

import pytest

from ccprov.fleet import audit, hostile, usage
from ccprov.fleet import ssh as fleet
from ccprov.fleet import status as fleet_status
from ccprov.fleet.inventory import Host

ESC = "\x1b[2J\x1b]0;owned\x07"
HOST = Host("gw1", "10.0.0.1", groups=("gateways",))


def bomb(size: int) -> str:
    """A usage-probe answer that is small on the wire and SIZE bytes once inflated."""
    inflater = zlib.compressobj(9)
    chunk = b"\0" * (1024 * 1024)
    packed = b"".join(inflater.compress(chunk) for _ in range(size // len(chunk)))
    return base64.b64encode(packed + inflater.flush()).decode()


def test_a_decompression_bomb_is_refused_without_inflating_it() -> None:
    """Before: 270 KB from one gateway grew the controller by 1.8 GiB."""
    answer = bomb(256 * 1024 * 1024)  # 16 times the limit
    assert len(answer) < 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(usage.UsageError, match="inflates to more than 16 MiB"):
        usage.decode_probe({"data": answer}, "gw1")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024


def test_control_characters_in_log_fields_never_reach_the_terminal() -> None:
    line = json.dumps(
        {
            "ts": "2026-11-30T11:00:00Z",
            "developer": f"mallory{ESC}",
            "model": f"m{ESC}",
            "backend": f"b{ESC}",
            "status": 200,
            "error": f"e{ESC}",
            "session": f"s{ESC}",
        }
    )
    record = usage.parse_record(line, "gw1")
    assert record is not None
    for text in (record.developer, record.model, record.backend, record.error, record.session):
        assert text is not None and "\x1b" not in text and "\x07" not in text


def test_a_last_use_in_the_future_cannot_hide_an_idle_key() -> None:
    """Before: a gateway could report a last use in 2999 and keep a key from being flagged."""
    now = dt.datetime.now(dt.UTC)
    found: dict[str, dt.datetime] = {}
    usage._merge_last_use(found, {"alice": "2999-01-01T00:00:00Z"})
    assert found["alice"] <= dt.datetime.now(dt.UTC) and found["alice"] >= now
    record = usage.parse_record(json.dumps({"ts": "2999-01-01T00:00:00Z", "status": 200}), "g")
    assert record is not None and record.ts <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    "data",
    [
        {"findings": [{}]},
        {"findings": "all clean"},
        {"findings": [{"severity": 1, "what": None, "path": []}]},
        {"litellm": [{}], "findings": []},
        {"unreadable": [{"path": 1}], "unreadable_count": 1},
        {"unreadable_count": "many"},
        {"roots": "/"},
    ],
)
def test_a_malformed_audit_answer_is_that_hosts_line(data) -> None:
    """Before: one host answering findings: [{}] crashed `ccprov audit` for every host."""
    state, versions, lines, attention = audit.summarize(fleet.HostResult(HOST, data))
    assert (state, versions, attention) == ("BAD ANSWER", "-", True)
    assert len(lines) == 1 and lines[0].startswith("the probe's answer is malformed")


def test_planted_file_names_are_printed_as_text() -> None:
    data = {
        "findings": [{"severity": "critical", "what": f"x.pth{ESC}", "path": f"/tmp/{ESC}.pth"}],
        "unreadable": [{"path": f"/srv/{ESC}", "error": "EACCES"}],
        "unreadable_count": 1,
        "site_dirs": ["/usr/lib/python3/dist-packages"],
        "roots": ["/"],
    }
    state, _versions, lines, _attention = audit.summarize(fleet.HostResult(HOST, data))
    assert state == "COMPROMISED"
    assert all("\x1b" not in line and "\x07" not in line for line in lines)


def test_a_status_answer_cannot_paint_the_terminal() -> None:
    gpu = Host("gpu1", "10.0.0.5", groups=("gpu_hosts",))
    data = {
        "gpus": [f"B200{ESC}", 7],
        "services": {"vllm": {"active": f"active{ESC}", "installed": ESC, "health": ESC}},
    }
    lines = [line for line in render_status(gpu, data) if line.startswith("gpu1")]
    assert lines and all("\x1b" not in line and "\x07" not in line for line in lines)
    assert "needs attention" in lines[0]


def render_status(host: Host, data: object) -> list[str]:
    """fleet_status.run's table for one host whose probe answered DATA."""
    import unittest.mock as mock

    result = fleet.HostResult(host, data)  # type: ignore[arg-type]
    with (
        mock.patch.object(fleet_status.inventory, "load", return_value=[host]),
        mock.patch.object(fleet_status.ssh, "run_probe", return_value=[result]),
    ):
        return fleet_status.run(__import__("pathlib").Path("inv"), None, 1).lines


@pytest.mark.parametrize("data", [[1, 2], "text", {"services": "x", "gpus": "y"}])
def test_a_status_answer_of_the_wrong_shape_is_not_a_crash(data) -> None:
    gpu = Host("gpu1", "10.0.0.5", groups=("gpu_hosts",))
    lines = render_status(gpu, data)
    assert any("needs attention" in line or "not a report" in line for line in lines)
    assert lines[-1] == "1 hosts: 1 problem(s)"


def test_printable_keeps_plain_text_and_bounds_length() -> None:
    assert hostile.printable("alice@gpu1:8000") == "alice@gpu1:8000"
    assert hostile.printable("a\u202eb\nc") == "a?b?c"
    assert len(hostile.printable("x" * 10_000)) == 300
