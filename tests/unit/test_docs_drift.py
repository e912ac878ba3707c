"""Docs made from the code (issue #32): README.md's command synopsis and each role README's
variable table are what tests/support/gen_docs.py makes from the click commands and the
roles' argument_specs and defaults now, and the generator renders what a reader needs."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from tests.support import gen_docs
from tests.support.paths import REPO


def test_committed_docs_match_the_code() -> None:
    drifted = [str(path.relative_to(REPO)) for path in gen_docs.stale()]
    assert not drifted, f"{', '.join(drifted)} drifted from the code: run `{gen_docs.COMMAND}`"


def test_synopsis_shows_each_option_as_typed() -> None:
    @click.group()
    @click.version_option("1", "--version")
    def tool() -> None: ...

    @tool.command()
    @click.argument("name")
    @click.option("-i", "--inventory", type=click.Path(), required=True)
    @click.option("--shell", type=click.Choice(["bash", "zsh"]))
    @click.option("--agent", multiple=True, metavar="NAME")
    @click.option("--port", type=click.IntRange(1, 65535))
    @click.option("--check", is_flag=True)
    @click.option("--secret", hidden=True)  # hidden options stay out, as in --help
    def add(**_: object) -> None: ...

    assert gen_docs.synopsis(tool, "tool").splitlines() == [
        "```",
        "tool --version",
        "tool add NAME -i PATH [--shell bash|zsh] [--agent NAME ...] [--port INTEGER] [--check]",
        "tool COMMAND --help   # each option explained",
        "```",
    ]


def test_long_usages_wrap_under_the_first_option() -> None:
    lines = gen_docs.synopsis().splitlines()
    assert all(len(line) <= gen_docs.WIDTH for line in lines)
    workstation = lines.index(next(x for x in lines if x.startswith("ccprov workstation ")))
    assert lines[workstation + 1].startswith(" " * len("ccprov workstation ") + "[--")


def test_variables_table_from_specs_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "defaults").mkdir()
    (tmp_path / "meta/argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n"
        "      r_name: {type: str, required: true, description: Its <name>.}\n"
        "      r_mode: {type: str, choices: [a, b], description: [a or b, 'x | y.']}\n"
        "      r_list: {type: list, elements: str, description: Regexes.}\n"
        "      r_big: {type: dict, description: Builds.}\n"
    )
    (tmp_path / "defaults/main.yml").write_text(
        "r_mode: a\nr_list: ['^x\\.pth$']\nr_big: {linux: {sha512: " + "f" * 80 + "}}\n"
    )
    assert gen_docs.variables_table(tmp_path).splitlines()[2:] == [
        "| `r_name` | str | **required** | Its &lt;name>. |",
        "| `r_mode` | str: `a`, `b` | `a` | a or b x \\| y. |",
        "| `r_list` | list of str | `['^x\\.pth$']` | Regexes. |",
        "| `r_big` | dict | see `defaults/main.yml` | Builds. |",
    ]


def test_only_the_marked_region_is_rewritten() -> None:
    begin, end = gen_docs.markers("variables")
    text = f"prose\n{begin}\nold\n{end}\nmore prose\n"
    assert gen_docs.replace_between(text, "variables", "new") == (
        f"prose\n{begin}\nnew\n{end}\nmore prose\n"
    )
    with pytest.raises(ValueError, match="expected one"):
        gen_docs.replace_between("prose only\n", "variables", "new")
