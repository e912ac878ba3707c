"""`ccprov audit` honours the inventory's litellm_gateway_denylist (the role's variable, issue
#20): a real inventory (read by ansible-inventory, the variable in group_vars), a local host,
the real probe over a planted venv. A version the inventory adds is COMPROMISED; without the
variable the same venv is clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ccprov.cli import cli


def plant(root: Path, version: str) -> None:
    """A venv under root with litellm `version` installed (its dist-info)."""
    (root / "opt/v").mkdir(parents=True)
    (root / "opt/v/pyvenv.cfg").write_text("home = /usr/bin\n")
    info = root / f"opt/v/lib/python3.11/site-packages/litellm-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: litellm\nVersion: {version}\n")


def inventory(path: Path, group_vars: dict[str, object]) -> Path:
    (path / "group_vars/gateways").mkdir(parents=True)
    (path / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "gateways": {
                    "hosts": {"gw1": {"ansible_connection": "local", "ansible_become": False}}
                }
            }
        )
    )
    (path / "group_vars/gateways/main.yml").write_text(yaml.safe_dump(group_vars))
    return path


def audit(inv: Path, root: Path) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(cli, ["audit", "-i", str(inv), "--root", str(root), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    (host,) = json.loads(result.output)
    return result.exit_code, host


@pytest.mark.parametrize(
    "name",
    [
        "litellm_gateway_denylist",
        # The old, never-documented name: still read when the role's name is absent.
        "litellm_denylist",
    ],
)
def test_a_version_the_inventory_denylists_is_flagged(tmp_path: Path, name: str) -> None:
    plant(tmp_path / "fs", "1.90.0")
    inv = inventory(tmp_path / "inv", {name: ["1.82.7", "1.82.8", "1.90.0"]})
    code, host = audit(inv, tmp_path / "fs")
    assert code == 1, host
    assert host["state"] == "COMPROMISED", host
    assert host["litellm"] == "1.90.0"
    assert any("litellm 1.90.0 is a compromised release" in f for f in host["findings"]), host


def test_without_the_variable_the_same_version_is_clean(tmp_path: Path) -> None:
    plant(tmp_path / "fs", "1.90.0")
    inv = inventory(tmp_path / "inv", {"litellm_gateway_port": 4000})
    code, host = audit(inv, tmp_path / "fs")
    assert (code, host["state"], host["findings"]) == (0, "clean", []), host
