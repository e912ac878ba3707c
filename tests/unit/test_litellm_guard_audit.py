"""`ccprov audit` and its on-host probe, against planted files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ccprov.fleet import guard
from tests.support.pins import LITELLM

audit_probe = guard.load()

CCPROV = str(Path(sys.executable).parent / "ccprov")


def plant(root: Path, env: str, version: str | None = None, pth: dict[str, str] | None = None):
    site = root / env / "lib/python3.11/site-packages"
    site.mkdir(parents=True, exist_ok=True)
    if version:
        info = site / f"litellm-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: litellm\nVersion: {version}\n"
        )
    for name, text in (pth or {}).items():
        (site / name).write_text(text)
    return site


def policy(root: Path, **extra) -> dict:
    return {**audit_probe.DEFAULT_POLICY, "roots": [str(root)], **extra}


DISTUTILS_PRECEDENCE = (
    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') =="
    " 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"
)


def test_clean_environments_have_no_findings(tmp_path) -> None:
    plant(tmp_path, "gateway/venv", LITELLM, {"distutils-precedence.pth": DISTUTILS_PRECEDENCE})
    plant(
        tmp_path,
        "tool",
        None,
        {"paths.pth": "/opt/extra\n", "_virtualenv.pth": "import _virtualenv\n"},
    )
    report = audit_probe.audit(policy(tmp_path))
    assert report["findings"] == []
    assert [i["version"] for i in report["litellm"]] == [LITELLM]
    assert report["site_dirs"] == 2


def test_a_known_pth_name_with_other_content_is_flagged(tmp_path) -> None:
    plant(tmp_path, "gateway/venv", None, {"distutils-precedence.pth": "import os; x=1\n"})
    (finding,) = audit_probe.audit(policy(tmp_path))["findings"]
    assert finding["kind"] == "pth-code" and "not its known content" in finding["what"]


@pytest.mark.parametrize("version", ["1.82.7", "1.82.8"])
def test_compromised_versions_are_critical(tmp_path, version) -> None:
    plant(tmp_path, "home/dev/.venv", version)
    findings = audit_probe.audit(policy(tmp_path))["findings"]
    assert [f["severity"] for f in findings] == ["critical"]
    assert f"litellm {version} is a compromised release" in findings[0]["what"]


def test_malicious_and_stray_pth_files(tmp_path) -> None:
    plant(tmp_path, "srv/app", None, {"litellm_init.pth": "import base64; exec(...)\n"})
    plant(tmp_path, "srv/other", None, {"odd.pth": "import odd_hook\n"})
    findings = sorted(audit_probe.audit(policy(tmp_path))["findings"], key=lambda f: f["path"])
    assert [(f["severity"], Path(f["path"]).name) for f in findings] == [
        ("critical", "litellm_init.pth"),
        ("warning", "odd.pth"),
    ]


def test_denylist_is_data(tmp_path) -> None:
    plant(tmp_path, "opt/x", "1.90.0")
    assert audit_probe.audit(policy(tmp_path))["findings"] == []
    extended = policy(tmp_path, denylist=["1.82.7", "1.82.8", "1.90.0"])
    assert len(audit_probe.audit(extended)["findings"]) == 1


def test_probe_runs_as_a_script_from_stdin(tmp_path) -> None:
    plant(tmp_path, "opt/x", "1.82.7")
    source = guard.source()
    proc = subprocess.run(
        [sys.executable, "-", json.dumps({"roots": [str(tmp_path)]})],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["findings"][0]["severity"] == "critical"


def test_cli_table_and_exit_code(tmp_path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  children:\n    gateways:\n      hosts:\n        gw-local:\n"
        "          ansible_connection: local\n"
    )
    root = tmp_path / "scan"
    plant(root, "opt/ok", LITELLM)
    clean = subprocess.run(
        [CCPROV, "audit", "-i", str(inventory), "--root", str(root)], capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "gw-local" in clean.stdout and "clean" in clean.stdout and LITELLM in clean.stdout

    plant(root, "opt/bad", "1.82.8", {"litellm_init.pth": "import x\n"})
    bad = subprocess.run(
        [CCPROV, "audit", "-i", str(inventory), "--root", str(root)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "COMPROMISED" in bad.stdout and "litellm_init.pth" in bad.stdout


def test_cli_an_empty_scan_is_partial_not_clean(tmp_path) -> None:
    """No site-packages seen at all (the old `{"site_dirs": 0}` "clean"): PARTIAL, exit 1."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  children:\n    gateways:\n      hosts:\n        gw-local:\n"
        "          ansible_connection: local\n"
    )
    (tmp_path / "empty").mkdir()
    args = [CCPROV, "audit", "-i", str(inventory), "--root", str(tmp_path / "empty")]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "PARTIAL" in proc.stdout and "no site-packages/dist-packages seen" in proc.stdout
    allowed = subprocess.run([*args, "--allow-partial"], capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "PARTIAL" in allowed.stdout and "1 partial (--allow-partial)" in allowed.stdout


def test_cli_missing_inventory_is_one_line(tmp_path) -> None:
    proc = subprocess.run(
        [CCPROV, "audit", "-i", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "does not exist; pass -i inventories/<env>" in proc.stderr
    assert "Traceback" not in proc.stderr
