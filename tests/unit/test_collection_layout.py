"""The collection ccprov.stack (galaxy.yml): its metadata agrees with pyproject.toml, the
roles and playbooks call its plugins and roles by their fully qualified names, and a
checkout resolves it through collections/ (tests/stages/collection.sh builds and
installs it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from ccprov import paths
from tests.conftest import REPO, load_file

GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _filters() -> set[str]:
    names: set[str] = set()
    for path in sorted((REPO / "plugins/filter").glob("*.py")):
        module = load_file(f"ccprov_stack_filter_{path.stem}", path)
        names |= set(module.FilterModule().filters())
    return names


def _content() -> list[Path]:
    files = [*(REPO / "roles").rglob("*.yml"), *(REPO / "roles").rglob("*.j2")]
    files += (REPO / "playbooks").glob("*.yml")
    return sorted(f for f in files if "molecule" not in f.parts)


def test_galaxy_yml_matches_the_python_package() -> None:
    assert (GALAXY["namespace"], GALAXY["name"]) == ("ccprov", "stack")
    assert GALAXY["version"] == PROJECT["version"]
    runtime = yaml.safe_load((REPO / "meta/runtime.yml").read_text())
    core = next(d for d in PROJECT["dependencies"] if d.startswith("ansible-core"))
    low, high = re.findall(r"(\d+\.\d+)", core)
    assert runtime["requires_ansible"] == f">={low}.0,<{high}.0"


def test_filters_are_called_by_their_fully_qualified_names() -> None:
    names = "|".join(sorted(_filters()))
    short = re.compile(rf"""(\|\s*|map\(\s*['"])({names})\b""")
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in _content()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if short.search(line)
    ]
    assert found == []


def test_modules_and_roles_are_called_by_their_fully_qualified_names() -> None:
    modules = "|".join(p.stem for p in sorted((REPO / "plugins/modules").glob("*.py")))
    roles = "|".join(p.name for p in sorted((REPO / "roles").iterdir()) if p.is_dir())
    short = re.compile(rf"^\s*(-\s+)?(({modules}):|(role|name):\s+({roles})\s*$)")
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in _content()
        if path.suffix == ".yml"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if short.search(line)
    ]
    assert found == []


def test_a_checkout_resolves_the_collection_to_itself() -> None:
    link = REPO / "collections/ansible_collections/ccprov/stack"
    assert link.is_symlink() and link.resolve() == REPO
    assert paths.data_dir() == REPO
    assert paths.collections_dir() == REPO / "collections"
    assert paths.collections_path("/elsewhere").split(":") == [
        str(REPO / "collections"),
        "/elsewhere",
    ]
