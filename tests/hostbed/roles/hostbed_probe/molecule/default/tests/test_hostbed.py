"""The test host runs systemd as PID 1, with real units and real ports."""

from __future__ import annotations


def test_systemd_is_pid_1(host) -> None:
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_is_up(host) -> None:
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), host.run("systemctl --failed").stdout


def test_probe_unit_is_active_and_listening(host) -> None:
    assert host.service("hostbed-probe").is_running
    assert host.service("hostbed-probe").is_enabled
    assert host.socket("tcp://0.0.0.0:8080").is_listening


def test_pypi_is_reachable_like_on_the_machine(host) -> None:
    out = host.run("python3 -m pip download --no-deps -q -d /tmp/probe-dl six && ls /tmp/probe-dl")
    assert out.rc == 0, out.stderr
    assert "six-" in out.stdout
