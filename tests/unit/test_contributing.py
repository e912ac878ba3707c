"""CONTRIBUTING.md's recipes name files that exist: a rename or a move fails here instead
of leaving a recipe that sends the next maintainer to a file that is gone (issue #32)."""

from __future__ import annotations

import re

from tests.support.paths import REPO

TEXT = (REPO / "CONTRIBUTING.md").read_text()
# What a recipe's `path` starts with: the repository's own top-level entries.
TOP = tuple(sorted({p.name for p in REPO.iterdir() if not p.name.startswith(".")}))


def recipes() -> dict[str, list[str]]:
    """{recipe title: its list items}, from the "## Recipes" section's ### headings."""
    section = TEXT.split("\n## Recipes\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[str]] = {}
    for block in re.split(r"^### ", section, flags=re.M)[1:]:
        title, body = block.split("\n", 1)
        # A list item runs until the next item or a blank line (its continuation lines).
        found[title] = re.findall(r"^- (.*(?:\n  .*)*)", body, re.M)
    return found


def paths(item: str) -> list[str]:
    """The repository paths an item names in backticks (not commands, names or patterns)."""
    words = re.findall(r"`([^`\s]+)`", item)
    return [w for w in words if w.split("/")[0] in TOP and not re.search(r"[<*]", w)]


def test_the_four_recipes_are_there() -> None:
    titles = list(recipes())
    assert len(titles) == 4, titles
    for title, items in recipes().items():
        assert items and any(paths(i) for i in items), title


def test_every_path_a_recipe_names_exists() -> None:
    missing = []
    for title, items in recipes().items():
        for item in items:
            for n, path in enumerate(paths(item)):
                # An item starting "new" creates its first path: that one's folder must exist.
                target = REPO / path
                if item.startswith("new") and n == 0:
                    target = target.parent
                if not target.exists():
                    missing.append(f"{title}: {path}")
    layout = TEXT.split("\n## Recipes\n", 1)[0]
    missing += [f"layout: {p}" for p in paths(layout) if not (REPO / p).exists()]
    assert missing == [], "CONTRIBUTING.md names paths that are not there:\n" + "\n".join(missing)


def test_a_moved_file_is_reported() -> None:
    item = "`roles/workstation/vars/backends.yml`: the table; `roles/gone.yml`; `git grep -n x`"
    assert paths(item) == ["roles/workstation/vars/backends.yml", "roles/gone.yml"]
    assert not (REPO / "roles/gone.yml").exists()
