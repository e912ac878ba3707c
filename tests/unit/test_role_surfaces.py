"""Every role's surface reads like the best public ones (issue #20): a README with an
example playbook, argument_specs in block style that match defaults/main.yml with every
option described and the required ones marked `required: true`, and short, plain task
names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from tests.conftest import REPO

ROLES = sorted(p.parent.parent for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))
ROLE_IDS = [role.name for role in ROLES]

# The inputs each role insists on, with no default (`required: true`).
REQUIRED = {
    "litellm_gateway": set(),
    "nft_allowlist": {"nft_allowlist_name", "nft_allowlist_description"},
    "pinned_venv": {"pinned_venv_package", "pinned_venv_version", "pinned_venv_root"},
    "vllm_server": set(),
    "workstation": {"workstation_local_base_url", "workstation_local_token"},
}


def test_every_role_is_checked() -> None:
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks").is_dir())
    assert roles == ROLE_IDS == sorted(REQUIRED)


def main_options(role: Path) -> dict[str, dict[str, Any]]:
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def task_names(tasks: list[dict[str, Any]] | None) -> Iterator[str]:
    """Names of the tasks in a task or handler file, those in blocks included."""
    for task in tasks or []:
        if "name" in task:
            yield str(task["name"])
        for part in ("block", "rescue", "always"):
            yield from task_names(task.get(part))


def task_files(role: Path) -> list[Path]:
    return sorted((role / "tasks").glob("*.yml")) + sorted((role / "handlers").glob("*.yml"))


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_task_names_are_short_and_plain(role: Path) -> None:
    for path in task_files(role):
        names = list(task_names(yaml.safe_load(path.read_text())))
        assert names, path
        for name in names:
            where = f"{role.name}/{path.parent.name}/{path.name}: {name}"
            assert len(name) <= 60, where
            # Explanations go in a comment above the task, not in its name.
            assert "(" not in name, where
            if path.parent.name == "tasks" and path.name != "main.yml":
                assert re.fullmatch(r"[A-Z][\w ]* \| \S.*", name), where


def flow_mappings(node: CommentedMap, where: str) -> Iterator[str]:
    """Options, and their suboptions, written as {type: ..., default: ...}."""
    for name, spec in node.items():
        if isinstance(spec, CommentedMap):
            if spec.fa.flow_style():
                yield f"{where}.{name}"
            if isinstance(spec.get("options"), CommentedMap):
                yield from flow_mappings(spec["options"], f"{where}.{name}")


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_argument_specs_are_block_style(role: Path) -> None:
    specs = YAML(typ="rt").load((role / "meta/argument_specs.yml").read_text())
    assert not specs.fa.flow_style() and not specs["argument_specs"].fa.flow_style()
    for entry, spec in specs["argument_specs"].items():
        assert not spec.fa.flow_style(), entry
        assert spec.get("short_description"), entry
        assert not list(flow_mappings(spec["options"], entry))


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_argument_specs_match_the_defaults(role: Path) -> None:
    text = (role / "defaults/main.yml").read_text()
    defaults = yaml.safe_load(text)
    options = main_options(role)
    required = {name for name, spec in options.items() if spec.get("required")}
    assert required == REQUIRED[role.name]
    assert set(options) == set(defaults) | required
    for name in required:
        assert "default" not in options[name] and name not in defaults, name
        # Documented in defaults/main.yml as an example line.
        assert re.search(rf"^# {name}: ", text, re.M), name
    for name, spec in options.items():
        description = spec.get("description")
        assert description, name
        # `required: true` says it; the prose does not.
        assert "required" not in str(description).lower(), name
        if name in defaults and "default" in spec:
            assert spec["default"] == defaults[name], name


@pytest.mark.parametrize("role", ROLES, ids=ROLE_IDS)
def test_readme_has_an_example_playbook(role: Path) -> None:
    readme = (role / "README.md").read_text()
    assert re.search(r"^#{2,3} Example( playbook)?\s*$", readme, re.M | re.I), role.name
    assert re.search(r"^## Variables\s*$", readme, re.M), role.name
    # The example uses the role by name (in roles: or include_role), fully qualified or
    # the short name a checkout resolves.
    assert re.search(rf"(role|name): (ccprov\.stack\.)?{role.name}\b", readme), role.name
