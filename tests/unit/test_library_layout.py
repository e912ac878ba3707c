"""src/ccprov as a library under a thin CLI: only cli.py knows click, errors are
CcprovErrors, and `ccprov status -i` takes what a host should run from the roles' defaults."""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from ccprov import errors, paths
from ccprov.fleet import status as fleet_status
from ccprov.fleet.inventory import Host
from ccprov.probes import status_probe

SRC = Path(paths.__file__).parent  # the ccprov package, with its subpackages


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_cli_imports_click() -> None:
    users = sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "click" in imported_modules(p)
    )
    assert users == ["cli.py"]


def test_what_is_shipped_to_hosts_needs_only_the_standard_library() -> None:
    """ccprov.probes runs on hosts that have no ccprov (a probe travels as one file)."""
    shipped = sorted((SRC / "probes").glob("*.py"))
    assert {p.name for p in shipped} >= {"status_probe.py", "usage_probe.py", "conformance.py"}
    for path in shipped:
        outside = imported_modules(path) - set(sys.stdlib_module_names) - {"__future__"}
        assert outside == set(), f"{path.name} imports {sorted(outside)}"


def test_a_usage_problem_is_a_ccprov_error_with_exit_2() -> None:
    problem = errors.UsageProblem("pass --base-url URL")
    assert isinstance(problem, errors.CcprovError)
    assert (problem.usage, problem.exit_code, str(problem)) == (True, 2, "pass --base-url URL")
    plain = errors.CcprovError("fix that line", exit_code=2, plain=True)
    assert (plain.usage, plain.plain, plain.exit_code) == (False, True, 2)


def role_default(role: str, variable: str) -> object:
    path = paths.data_dir() / "roles" / role / "defaults" / "main.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))[variable]


def host(*groups: str, **variables: object) -> Host:
    return Host(name="h", address="h", groups=groups, variables=dict(variables))


def test_pins_ports_and_roots_come_from_the_roles_defaults() -> None:
    want = fleet_status.expected(host("gpu_hosts", "gateways"))
    assert want["vllm"]["pin"] == str(role_default("vllm_server", "vllm_server_version"))
    assert want["vllm"]["port"] == role_default("vllm_server", "vllm_server_port")
    assert want["vllm"]["root"] == role_default("vllm_server", "vllm_server_root")
    assert want["litellm"]["pin"] == str(role_default("litellm_gateway", "litellm_gateway_version"))
    assert want["litellm"]["root"] == role_default("litellm_gateway", "litellm_gateway_root")
    assert "nginx" in want  # litellm_gateway_tls defaults to true


def test_the_inventory_wins_unless_it_is_a_template() -> None:
    want = fleet_status.expected(
        host(
            "gpu_hosts",
            "gateways",
            vllm_server_version="0.40.0",
            vllm_server_root="/srv/vllm",
            litellm_gateway_port="{{ some_port }}",
            litellm_gateway_tls=False,
        )
    )
    assert (want["vllm"]["pin"], want["vllm"]["root"]) == ("0.40.0", "/srv/vllm")
    assert want["litellm"]["port"] == role_default("litellm_gateway", "litellm_gateway_port")
    assert "nginx" not in want
    assert fleet_status.expected(host("workstations")) == {}


def test_the_probe_gets_roots_ports_and_health_paths_but_no_pins() -> None:
    want = fleet_status.expected(host("gpu_hosts", vllm_server_root="/srv/vllm"))
    argument = json.loads(fleet_status.probe_argument(want))
    assert argument == {
        "vllm": {
            "root": "/srv/vllm",
            "port": want["vllm"]["port"],
            "health": "/health",
            # Where the weights are: the probe reports the checkpoint's tokenizer and vision.
            "hf_home": role_default("vllm_server", "vllm_server_hf_home"),
            "model": role_default("vllm_server", "vllm_server_model"),
            "revision": role_default("vllm_server", "vllm_server_model_revision"),
        }
    }


def test_the_probe_reads_the_installed_version_under_the_root_it_is_given(
    tmp_path: Path,
) -> None:
    (tmp_path / "0.40.0").mkdir()
    os.symlink(tmp_path / "0.40.0", tmp_path / "current")
    found = status_probe.service("vllm", str(tmp_path), 9, "/health")
    assert found["installed"] == "0.40.0"
    assert "SERVICES" not in vars(status_probe)  # no install roots written in the probe


@pytest.mark.parametrize("variable", ["vllm_server_version", "vllm_server_root"])
def test_a_default_missing_from_the_role_names_the_fix(monkeypatch, variable) -> None:
    defaults = dict(fleet_status.role_defaults("vllm_server"))
    del defaults[variable]
    monkeypatch.setattr(fleet_status, "role_defaults", lambda role: defaults)
    with pytest.raises(errors.CcprovError, match="reinstall ccprov"):
        fleet_status.expected(host("gpu_hosts"))
