"""No two of ccprov's modules import each other, directly or round a longer circle (issue #32:
smoke.py and agents_compare.py did). Imports inside functions count: they only hide a circle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO

SRC = REPO / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ccprov_imports(path: Path, modules: set[str]) -> set[str]:
    """The ccprov modules this file imports (`from ccprov import x` counts as ccprov.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found & modules


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in (SRC / "ccprov").rglob("*.py")}
    modules = set(files) - {"ccprov"}
    return {name: ccprov_imports(path, modules) - {name} for name, path in files.items()}


def find_circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle (its modules, the first repeated at the end), or []."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(name: str, path: list[str]) -> list[str]:
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (circle := visit(target, [*path, target])):
                return circle
        state[name] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (circle := visit(start, [start])):
            return circle
    return []


def test_no_ccprov_module_imports_itself_round_a_circle() -> None:
    graph = import_graph()
    # The graph sees imports, across subpackages too.
    assert "ccprov.workstation.smoke_cases" in graph["ccprov.workstation.agents_compare"]
    assert find_circle(graph) == [], " -> ".join(find_circle(graph))


def test_a_circle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_circle(graph) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) == []
