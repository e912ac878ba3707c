"""`ccprov usage -i` and `ccprov keys list --last-use` as a user runs them: the inventory's
gateways (here local ones) read through the real inventory reader and fleet probe; bad input
is one line naming the fix."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from ccprov.cli import cli
from tests.unit.test_usage_report import line


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def inventory(tmp_path: Path) -> Path:
    """One local gateway whose log holds 2 requests by alice and 1 by bob (an hour ago);
    carol's key is old and unused."""
    now = dt.datetime.now(dt.UTC)
    hour_ago = now - dt.timedelta(hours=1)
    logs = tmp_path / "usage"
    logs.mkdir()
    lines = [
        line(_iso(hour_ago), "alice", input_tokens=100, output_tokens=10, cached_tokens=50),
        line(_iso(hour_ago), "alice", input_tokens=300, output_tokens=30, cached_tokens=0),
        line(_iso(hour_ago), "bob", input_tokens=7, output_tokens=3, cached_tokens=0),
    ]
    (logs / f"usage-{hour_ago:%Y-%m-%d}.jsonl").write_text("".join(t + "\n" for t in lines))
    inv = tmp_path / "inv"
    (inv / "group_vars/gateways").mkdir(parents=True)
    (inv / "hosts.yml").write_text(
        "all:\n  children:\n    gateways:\n      hosts:\n"
        f"        gw1: {{ansible_connection: local, litellm_gateway_usage_dir: {logs}}}\n"
    )
    old = (now - dt.timedelta(days=90)).date().isoformat()
    keys = {
        "litellm_gateway_developer_keys": {
            name: {"sha256": "0" * 64, "created": old} for name in ("alice", "bob", "carol")
        }
    }
    (inv / "group_vars/gateways/developer_keys.yml").write_text(json.dumps(keys))
    return inv


def test_usage_counts_each_developer_and_flags_the_idle_key(tmp_path) -> None:
    inv = inventory(tmp_path)
    result = CliRunner().invoke(cli, ["usage", "-i", str(inv), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    rows = {row["key"]: row for row in report["rows"]}
    assert (rows["alice"]["requests"], rows["alice"]["input_tokens"]) == (2, 400)
    assert (rows["alice"]["output_tokens"], rows["alice"]["cached_tokens"]) == (40, 50)
    assert (rows["bob"]["requests"], rows["bob"]["input_tokens"]) == (1, 7)
    assert report["idle_developers"] == ["carol"]
    table = CliRunner().invoke(cli, ["usage", "-i", str(inv)])
    assert table.exit_code == 0 and "carol" in table.output


def test_keys_list_shows_last_use(tmp_path) -> None:
    inv = inventory(tmp_path)
    result = CliRunner().invoke(cli, ["keys", "list", "-i", str(inv), "--last-use"])
    assert result.exit_code == 0, result.output
    rows = {row.split()[0]: row for row in result.output.splitlines()[1:]}
    today = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert today.strftime("%Y-%m-%d") in rows["alice"]
    assert "never" in rows["carol"] and "review" in rows["carol"]


def test_bad_input_is_one_line_naming_the_fix(tmp_path) -> None:
    inv = inventory(tmp_path)
    cases = {
        ("usage", "-i", str(tmp_path / "nope")): "pass -i inventories/<env>",
        ("usage", "-i", str(inv), "--since", "soon"): "--since must be a span like 7d",
        ("usage", "-i", str(inv), "--limit", "gpu*"): "no host of group gateways",
    }
    for args, fix in cases.items():
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code != 0, args
        lines = [x for x in result.output.splitlines() if x.strip()]
        assert len(lines) == 1 and fix in lines[0], (args, result.output)
        assert "Traceback" not in result.output
