"""Each fact written once (issue #32): a pinned release, the gateway's default port and the
backend names appear as a literal only where they are kept, so a change is one edit.

What counts is live code: Python without its comments and docstrings, and YAML, templates,
shell, TOML and lock files without their comments. Prose is not a copy: Markdown (the
READMEs' variable tables are generated from the defaults, tests/unit/test_docs_drift.py),
bench/ (results of past runs), comments and docstrings, and a release cited by the
upstream project's own spelling ("LiteLLM <version> ignores ...", "vLLM <version>'s check"),
which says what that release does and stays true after a bump."""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from tests.support import pins
from tests.support.paths import REPO

CODE_SUFFIXES = {".py", ".yml", ".yaml", ".j2", ".sh", ".toml", ".cfg", ".in", ".txt", ".json"}
PROSE_DIRS = ("bench/",)
# Where Ansible reads values: a default copied here is one a playbook or role acts on.
ANSIBLE_DIRS = re.compile(
    r"^(roles/[^/]+/(defaults|vars|tasks|handlers|templates|meta)/|playbooks/|inventories/|site\.yml)"
)


@dataclass
class Fact:
    name: str
    pattern: re.Pattern[str]
    source: str
    """Where the fact is kept, for the failure message."""
    allowed: list[tuple[str, str]] = field(default_factory=list)
    """(path, a regex its line matches): the source, and copies a test holds equal to it."""
    scope: re.Pattern[str] = re.compile("")
    ignore: re.Pattern[str] | None = None
    """Text on a line that is not the fact though it matches (removed before matching)."""


def live_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(
        f
        for f in set(listed)
        if Path(f).suffix in CODE_SUFFIXES and not f.startswith(PROSE_DIRS) and (REPO / f).is_file()
    )


def python_code(text: str) -> str:
    """TEXT with its comments and docstrings (any bare string statement) blanked out."""
    bare = {
        (n.value.lineno, n.value.col_offset)
        for n in ast.walk(ast.parse(text))
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
    }
    lines = text.splitlines(keepends=True)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and tok.start in bare):
            (srow, scol), (erow, ecol) = tok.start, tok.end
            for row in range(srow, erow + 1):
                line = lines[row - 1]
                start = scol if row == srow else 0
                end = ecol if row == erow else len(line.rstrip("\n"))
                lines[row - 1] = line[:start] + " " * (end - start) + line[end:]
    return "".join(lines)


@cache
def raw_text(path: str) -> str:
    return (REPO / path).read_text(errors="replace")


@cache
def code_lines(path: str) -> list[str]:
    text = raw_text(path)
    if path.endswith(".py"):
        text = python_code(text)
    else:
        text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)  # Jinja comments
        text = "\n".join(re.sub(r"(^|\s)#.*", "", line) for line in text.splitlines())
    return text.splitlines()


def copies(fact: Fact, files: list[str]) -> dict[str, list[str]]:
    """{path: ["line: text", ...]} where the fact is written outside its allowed places."""
    found: dict[str, list[str]] = {}
    for path in files:
        if not fact.scope.search(path) or not fact.pattern.search(raw_text(path)):
            continue  # (the raw text first: stripping prose is the slow part)
        for number, line in enumerate(code_lines(path), 1):
            text = fact.ignore.sub("", line) if fact.ignore else line
            if not fact.pattern.search(text):
                continue
            if any(path == p and re.search(rule, line) for p, rule in fact.allowed):
                continue
            found.setdefault(path, []).append(f"{number}: {line.strip()[:90]}")
    return found


def version_fact(package: str) -> Fact:
    version = pins.version(package)
    lock = pins.lock_file(package).relative_to(REPO)
    allowed = [(str(lock), ""), (str(lock.with_suffix(".in")), "")]
    allowed += [
        (f"roles/{role}/defaults/main.yml", rf"^{variable}:")
        for role, variable, pinned in pins.PINNED_DEFAULTS
        if pinned == package
    ]
    return Fact(
        f"{package} {version}",
        re.compile(rf"(?<![\w.]){re.escape(version)}(?![\w.]*\d)"),
        f"{lock} (tests read tests/support/pins.py)",
        allowed,
        ignore=re.compile(rf"\b{pins.UPSTREAM_NAMES[package]} {re.escape(version)}"),
    )


def backend_names() -> list[str]:
    table = yaml.safe_load((REPO / "roles/workstation/vars/backends.yml").read_text())
    return [b["name"] for b in table["__workstation_backends"]]


def backends_fact() -> Fact:
    """Three table names in a row, in the table's order, is the list written again."""
    names = backend_names()
    runs = [r"[\W]+".join(names[i : i + 3]) for i in range(len(names) - 2)]
    return Fact(
        "the backend names",
        re.compile(rf"\b({'|'.join(runs)})\b"),
        "roles/workstation/vars/backends.yml (src/ccprov/workstation/envfile.py BACKENDS reads it)",
    )


def port_fact() -> Fact:
    return Fact(
        "the gateway's default port 443",
        re.compile(r"(?<![\w.:])443\b"),
        "roles/litellm_gateway/defaults/main.yml litellm_gateway_tls_port",
        [("roles/litellm_gateway/defaults/main.yml", r"^litellm_gateway_tls_port: 443$")],
        scope=ANSIBLE_DIRS,
        # "== 443" is HTTPS's own port, which a URL leaves out; not the gateway's default.
        ignore=re.compile(r"==\s*443\b"),
    )


def facts() -> list[Fact]:
    return [*map(version_fact, pins.LOCK_DIRS), port_fact(), backends_fact()]


def test_each_fact_is_written_in_one_place() -> None:
    files = live_files()
    problems = []
    for fact in facts():
        found = copies(fact, files)
        for path, lines in sorted(found.items()):
            problems += [f"{path}:{line}" for line in lines]
            problems.append(f"  ^ {fact.name} is kept in {fact.source}: use it from there")
    assert problems == [], "\n".join(problems)


def test_a_copy_is_found_and_prose_is_not(tmp_path: Path) -> None:
    version = pins.LITELLM
    sample = (
        f'"""LiteLLM {version} says so."""\n'
        f"# litellm {version}\n"
        f'X = "LiteLLM {version} cited"\n'
        f'PIN = "{version}"\n'
        f'PATH = f"litellm-{version}.txt"\n'
        f'LATER = "{version}1"\n'
    )
    assert python_code(sample).count(version) == 4
    fact = version_fact("litellm")
    lines = [line for line in python_code(sample).splitlines() if version in line]
    hits = [line for line in lines if fact.pattern.search(fact.ignore.sub("", line))]  # type: ignore[union-attr]
    assert hits == [f'PIN = "{version}"', f'PATH = f"litellm-{version}.txt"']
    table, names = backends_fact().pattern, backend_names()
    assert table.search(f"BACKENDS == {tuple(names[1:4])}")  # (built: not a copy here)
    assert not table.search(f"  - name: {names[0]}\n    help: the gateway\n  - name: {names[1]}")
    port = port_fact()
    assert port.pattern.search("default(443)") and not port.pattern.search("host:4430")
    assert port.ignore and not port.pattern.search(port.ignore.sub("", "if port == 443 else"))


def test_workstations_reach_the_gateway_on_its_roles_default_port(tmp_path: Path) -> None:
    """playbooks/workstations.yml's gateway URL, for a gateway whose inventory sets no TLS
    port, uses the port in roles/litellm_gateway/defaults/main.yml (role defaults are not
    in hostvars, so the play reads that file): changing the default is one edit."""
    play = yaml.safe_load((REPO / "playbooks/workstations.yml").read_text())[0]
    url_task = next(t for t in play["pre_tasks"] if "workstation_local_base_url" in str(t))
    out = tmp_path / "url"
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "roles").symlink_to(REPO / "roles")  # the layout the play's lookup expects
    (tmp_path / "playbooks/url.yml").write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "workstations",
                    "gather_facts": False,
                    "tasks": [
                        url_task,
                        {
                            "ansible.builtin.copy": {
                                "content": "{{ workstation_local_base_url }}",
                                "dest": str(out),
                            }
                        },
                    ],
                }
            ]
        )
    )
    (tmp_path / "hosts.yml").write_text(
        "gateways: {hosts: {gw1: {ansible_host: 10.0.0.9}}}\n"
        "workstations: {hosts: {ws1: {ansible_connection: local}}}\n"
    )
    run = subprocess.run(
        [Path(sys.executable).parent / "ansible-playbook", "-i", "hosts.yml", "playbooks/url.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_PYTHON_INTERPRETER": sys.executable},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    port = yaml.safe_load((REPO / "roles/litellm_gateway/defaults/main.yml").read_text())[
        "litellm_gateway_tls_port"
    ]
    assert out.read_text() == "https://10.0.0.9" + ("" if port == 443 else f":{port}")
