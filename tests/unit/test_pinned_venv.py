"""The pinned_venv role: its guard for any package, its install rules, and the built-in
denylist kept in one place (issue #20)."""

from __future__ import annotations

import re

import pytest
import yaml

from ccprov.fleet import guard
from tests.conftest import REPO
from tests.support.pins import LITELLM, VLLM

g = guard.load()
ROLE = REPO / "roles/pinned_venv"
LOCK = f"vllm=={VLLM} \\\n    --hash=sha256:aa\nidna==3.20 \\\n    --hash=sha256:bb\n"


def test_the_builtin_denylist_is_litellms_only() -> None:
    builtin = g.DEFAULT_POLICY["denylist"]
    assert builtin and g.denied_versions("litellm", []) == sorted(builtin)
    assert g.denied_versions("LiteLLM", ["9.9.9"]) == sorted([*builtin, "9.9.9"])
    assert g.denied_versions("vllm", []) == []
    assert g.denied_versions("vllm", ["0.1.0"]) == ["0.1.0"]
    assert g.minimum_version("litellm", "") == g.LITELLM_MINIMUM
    assert g.minimum_version("litellm", "1.90.0") == "1.90.0"
    assert g.minimum_version("vllm", "") == ""


def test_version_checks_for_any_package() -> None:
    assert g.version_problem(VLLM, [], "", "vllm") is None
    assert g.version_problem(VLLM, [VLLM], "", "vllm") == (
        f"vllm {VLLM} is denylisted; pin another release."
    )
    assert "vllm 0.1.0 is older than the minimum 0.2" in g.version_problem(
        "0.1.0", [], "0.2", "vllm"
    )
    assert "not an exact version" in g.version_problem(">=0.33", [], "", "vllm")
    # Spelt otherwise, the same release is still refused.
    assert g.version_problem("v1.82.08", g.denied_versions("litellm", []), "")


def test_lock_checks_for_any_package() -> None:
    assert g.lock_problems(LOCK, VLLM, [], "vllm") == []
    assert g.lock_problems(LOCK, "0.33.1", [], "vllm") == [
        f"the lock file pins vllm {VLLM}, not 0.33.1"
    ]
    assert g.lock_problems(LOCK, VLLM, [VLLM], "vllm") == [
        f"the lock file pins denylisted vllm {VLLM}"
    ]
    # A denylisted litellm is refused in any package's lock.
    bad = g.DEFAULT_POLICY["denylist"][0]
    with_litellm = LOCK + f"litellm=={bad} \\\n    --hash=sha256:cc\n"
    assert g.lock_problems(with_litellm, VLLM, [], "vllm") == [
        f"the lock file pins denylisted litellm {bad}"
    ]


def test_venv_audit_for_any_package(tmp_path) -> None:
    site = tmp_path / "lib/python3.11/site-packages"
    (site / f"vllm-{VLLM}.dist-info").mkdir(parents=True)
    (site / f"vllm-{VLLM}.dist-info/METADATA").write_text(f"Name: vllm\nVersion: {VLLM}\n")
    assert g.venv_problems(str(tmp_path), VLLM, [], "vllm") == []
    assert g.venv_problems(str(tmp_path), "0.33.1", [], "vllm") == [
        f"installed vllm is {VLLM}, expected exactly 0.33.1"
    ]
    assert g.venv_problems(str(tmp_path), LITELLM, [], "litellm") == [
        f"installed litellm is missing, expected exactly {LITELLM}"
    ]


def test_installs_are_hash_locked_wheels_only() -> None:
    internals = yaml.safe_load((ROLE / "vars/main.yml").read_text())
    assert internals["__pinned_venv_install_opts"].startswith(
        "--require-hashes --no-deps --only-binary :all:"
    )
    install = (ROLE / "tasks/install.yml").read_text() + (ROLE / "tasks/install_uv.yml").read_text()
    assert install.count("{{ __pinned_venv_install_opts }}") == 2
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    assert (ROLE / f"files/requirements/uv-{defaults['pinned_venv_uv_version']}.txt").exists()


@pytest.mark.parametrize("role", ["litellm_gateway", "vllm_server", "workstation"])
def test_callers_use_pinned_venv_and_no_other_roles_variables(role) -> None:
    tasks = "".join(p.read_text() for p in (REPO / "roles" / role / "tasks").glob("*.yml"))
    assert "name: ccprov.stack.pinned_venv" in tasks
    assert "tasks_from: venv" not in tasks and "litellm_gateway_venv_path" not in tasks
    if role != "litellm_gateway":
        text = "".join(
            p.read_text()
            for p in (REPO / "roles" / role).rglob("*")
            if p.is_file() and p.suffix in {".yml", ".j2"} and "molecule" not in p.parts
        )
        # Named in messages for the operator is fine; read in an expression is not.
        expressions = re.findall(r"\{\{.*?\}\}|\{%.*?%\}", text, re.S)
        expressions += re.findall(r"^\s*(?:when|that):.*$", text, re.M)
        assert not [e for e in expressions if "litellm_gateway_" in e]


def test_the_builtin_denylist_is_written_once() -> None:
    """Outside tests and docs, only the guard's policy names the compromised releases."""
    bad = g.DEFAULT_POLICY["denylist"][0]
    places = [REPO / d for d in ("roles", "src", "plugins", "playbooks", "inventories", "bench")]
    found = {
        str(path.relative_to(REPO))
        for place in places
        for path in place.rglob("*")
        if path.is_file()
        and path.suffix in {".py", ".yml", ".yaml", ".j2", ".cfg", ".sh"}
        and "molecule" not in path.parts
        and bad in path.read_text(errors="replace")
    }
    assert found == {"plugins/module_utils/litellm_guard.py"}
