"""Docs made from the code (issue #32): README.md's command synopsis from the click
commands themselves, and each role README's variable table from its meta/argument_specs.yml
(type, description) and defaults/main.yml (default).

    .venv/bin/python -m tests.support.gen_docs           # rewrite the generated parts
    .venv/bin/python -m tests.support.gen_docs --check   # exit 1, naming the files that drifted

Each generated part sits between a BEGIN and an END marker comment; the prose around it is
kept byte for byte. tests/unit/test_docs_drift.py fails when a committed part differs.
It lives in tests/support beside the other generators the checks run (shell_scripts.py):
the test imports it as it is, and it is linted with the tests.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import yaml

from ccprov.cli import cli
from tests.support.paths import REPO

COMMAND = ".venv/bin/python -m tests.support.gen_docs"
WIDTH = 92  # README.md's code blocks stay within this
LONG_DEFAULT = 60  # longer defaults are left to defaults/main.yml


def markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- BEGIN generated {name}: `{COMMAND}` rewrites it -->",
        f"<!-- END generated {name} -->",
    )


def replace_between(text: str, name: str, body: str) -> str:
    """TEXT with what stands between NAME's markers replaced by BODY."""
    begin, end = markers(name)
    pattern = re.compile(rf"(?<={re.escape(begin)}\n).*?(?={re.escape(end)})", re.S)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"expected one {begin!r} ... {end!r} pair")
    return pattern.sub(lambda _: body.rstrip("\n") + "\n", text)


# --- README.md: the command synopsis ------------------------------------------------------


def _metavar(param: click.Parameter) -> str:
    """What follows an option or stands for an argument, as a reader types it."""
    if param.metavar:
        return param.metavar
    if isinstance(param, click.Argument):
        return param.human_readable_name  # its name: NAME
    if isinstance(param.type, click.Choice):
        return "|".join(str(choice) for choice in param.type.choices)
    # "integer range" -> INTEGER: the range itself is in `--help`.
    return param.type.name.split()[0].upper()


def _words(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        word = _metavar(param) + ("..." if param.nargs == -1 else "")
        return word if param.required else f"[{word}]"
    assert isinstance(param, click.Option)
    word = param.opts[0]  # as declared: -i rather than --inventory, --host
    if not param.is_flag and not param.count:
        word += f" {_metavar(param)}"
    if param.multiple:
        word += " ..."
    return word if param.required else f"[{word}]"


def _wrap(head: str, words: list[str]) -> list[str]:
    """HEAD then WORDS, each word kept whole, continued under the first word."""
    lines, line = [], head
    for word in words:
        if len(line) + 1 + len(word) > WIDTH and line.strip() != head.strip():
            lines.append(line)
            line = " " * len(head)
        line += f" {word}"
    return [*lines, line]


def _leaves(group: click.Group, ctx: click.Context) -> Iterator[tuple[str, click.Command]]:
    """Every runnable command under GROUP, with its path, in `--help`'s order."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, click.Group):
            for path, leaf in _leaves(command, ctx):
                yield f"{name} {path}", leaf
        else:
            yield name, command


def synopsis(group: click.Group = cli, prog: str = "ccprov") -> str:
    """GROUP's commands and options, one usage per command, from the click objects."""
    ctx = click.Context(group, info_name=prog)
    help_names = set(ctx.help_option_names)
    lines = [
        f"{prog} {opt.opts[0]}"
        for opt in group.params
        if isinstance(opt, click.Option) and not set(opt.opts) & help_names
    ]
    for path, command in _leaves(group, ctx):
        params = [
            p
            for p in command.params
            if not set(p.opts) & help_names and not getattr(p, "hidden", False)
        ]
        lines += _wrap(f"{prog} {path}", [_words(p) for p in params])
    lines.append(f"{prog} COMMAND {ctx.help_option_names[0]}   # each option explained")
    return "```\n" + "\n".join(lines) + "\n```\n"


# --- roles/<role>/README.md: the variable tables -------------------------------------------


def _cell(text: str) -> str:
    """TEXT on one line, safe inside a Markdown table cell: a `|` escaped, and a `<` outside
    code spans too (`<root>` would be an HTML tag, and vanish)."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()).replace("|", "\\|"))
    return "".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts))


def _type(spec: dict[str, Any]) -> str:
    kind = str(spec.get("type", "str"))
    if "elements" in spec:
        kind += f" of {spec['elements']}"
    if "choices" in spec:
        kind += ": " + ", ".join(f"`{choice}`" for choice in spec["choices"])
    return kind


def _flow(value: Any) -> str:
    """VALUE in YAML flow style, every string quoted (a regex reads as one)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    return str(yaml.safe_dump(value)).removesuffix("\n").removesuffix("\n...")  # true, 0.9, null


def _default(value: Any) -> str:
    if value == "":
        return '`""`'
    shown = value if isinstance(value, str) else _flow(value)
    if len(shown) > LONG_DEFAULT:
        return "see `defaults/main.yml`"
    return f"`{shown}`"


def variables_table(role: Path) -> str:
    """ROLE's inputs in argument_specs order: name, type, default, description."""
    specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text()) or {}
    rows = ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, spec in options.items():
        if name in defaults:
            default = _default(defaults[name])
        else:
            default = "**required**" if spec.get("required") else "(none)"
        description = spec.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        rows.append(f"| `{name}` | {_type(spec)} | {_cell(default)} | {_cell(description)} |")
    return "\n".join(rows) + "\n"


# --- the files ----------------------------------------------------------------------------


def roles() -> list[Path]:
    return sorted(p.parent.parent for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))


def generated() -> dict[Path, str]:
    """Every file with generated parts, as it should read."""
    readme = REPO / "README.md"
    files = {readme: replace_between(readme.read_text(), "synopsis", synopsis())}
    for role in roles():
        path = role / "README.md"
        files[path] = replace_between(path.read_text(), "variables", variables_table(role))
    return files


def stale() -> list[Path]:
    return [path for path, text in generated().items() if path.read_text() != text]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        drifted = stale()
        for path in drifted:
            print(f"{path.relative_to(REPO)}: stale; run `{COMMAND}`", file=sys.stderr)
        return 1 if drifted else 0
    if argv:
        print(f"usage: {COMMAND} [--check]", file=sys.stderr)
        return 2
    for path, text in generated().items():
        if path.read_text() != text:
            path.write_text(text)
            print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
