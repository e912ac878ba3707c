"""`ccprov status` says how long each gateway's certificate lasts: ccprov's CA signs them for
180 days and only a site.yml run renews them (in their last 30 days), so an expiry nobody
sees would end every developer's sessions at once."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from ccprov.probes import status_probe
from tests.cli.tls_gateway import make_ca, sign_leaf
from tests.unit.test_hostile_hosts import Host, render_status

GATEWAY = Host("gw1", "10.0.0.12", groups=("gateways",))


def gateway_line(cert_days: object) -> list[str]:
    data = {"gpus": [], "services": {"nginx": {"active": "active", "cert_days": cert_days}}}
    return [line for line in render_status(GATEWAY, data) if " nginx " in line]


def test_the_probe_reads_the_days_left_with_openssl(tmp_path: Path) -> None:
    ca_dir = make_ca(tmp_path / "inventory")
    cert, _ = sign_leaf(ca_dir, tmp_path / "leaf", ["gateway.example.org"])  # 1 day
    assert status_probe.cert_days_left(str(cert)) == "0"
    five_days_ago = time.time() - 5 * 86400
    assert status_probe.cert_days_left(str(cert), now=five_days_ago) in ("5", "6")
    two_days_on = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).timestamp()
    assert status_probe.cert_days_left(str(cert), now=two_days_on) in ("-1", "-2")
    assert status_probe.cert_days_left(str(tmp_path / "missing.crt")) == ""


def test_status_shows_the_days_and_warns_in_the_renewal_window() -> None:
    [healthy] = gateway_line("172")
    assert "cert=172d" in healthy and "needs attention" not in healthy
    [soon] = gateway_line("12")
    assert "expires in 12 days: run site.yml" in soon and "needs attention" not in soon


def test_an_expired_certificate_needs_attention_and_junk_is_not_a_number() -> None:
    [expired] = gateway_line("-3")
    assert "needs attention" in expired and "expired 3 days ago" in expired
    [junk] = gateway_line("9" * 40)
    assert "cert=?" in junk and "unreadable" in junk
