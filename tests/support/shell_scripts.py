"""The shell scripts the roles install, ready for shellcheck (the lint stage runs this).

    python -m tests.support.shell_scripts OUTDIR

prints one path per line: every file under roles/*/files/ that is a shell script (a shell
shebang or a `# shellcheck shell=` directive, e.g. claude-switch), and every shell template
under roles/*/templates/ (a shell shebang, or a name ending in .sh.j2) rendered into OUTDIR
by Ansible's own template engine, from its role's defaults/main.yml and vars/main.yml (as
tests/unit/test_unit_hardening.py renders the units), once per variant below so both sides
of each `{% if %}` are checked. A rendered file without a shebang (a block that goes into
~/.bashrc and ~/.zshrc) gets a `# shellcheck shell=bash` first line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from tests.support import role_templates

ROLES = role_templates.ROLES
SHEBANG = re.compile(r"#!\s*(/usr/bin/env\s+)?(\S*/)?(sh|bash|dash|ksh|zsh)\b")
DIRECTIVE = re.compile(r"^# shellcheck shell=", re.MULTILINE)
# Extra variables per role: what its preflight tasks would have looked up or set.
ROLE_VARS: dict[str, dict[str, Any]] = {
    "workstation": {
        "workstation_user": "dev",
        "workstation_home": "/home/dev",
        "__workstation_vibe_mode": "systemd",
    },
}
# Variants per role (name -> variables over ROLE_VARS): the conditional parts of the
# templates. "default" is always rendered.
ROLE_VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "workstation": {"gateway-ca": {"__workstation_gateway_ca": True}},
}


def is_shell(path: Path, head: str) -> bool:
    first = head.partition("\n")[0]
    return bool(SHEBANG.match(first) or DIRECTIVE.search(head) or path.name.endswith(".sh.j2"))


def head_of(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as f:
            return f.read(2048)
    except (UnicodeDecodeError, OSError):
        return ""


def shell_files() -> list[Path]:
    """Shell scripts the roles copy as they are."""
    return sorted(
        p
        for p in ROLES.glob("*/files/**/*")
        if p.is_file() and "__pycache__" not in p.parts and is_shell(p, head_of(p))
    )


def shell_templates() -> dict[str, list[Path]]:
    """role -> its shell templates."""
    found: dict[str, list[Path]] = {}
    for p in sorted(ROLES.glob("*/templates/**/*.j2")):
        if p.is_file() and is_shell(p, head_of(p)):
            found.setdefault(p.relative_to(ROLES).parts[0], []).append(p)
    return found


def render(out: Path) -> list[Path]:
    """Render every shell template into OUT/ROLE/VARIANT/..., in one ansible-playbook run."""
    jobs: list[role_templates.Job] = []
    for role, templates in shell_templates().items():
        variants: dict[str, dict[str, Any]] = {"default": {}, **ROLE_VARIANTS.get(role, {})}
        for variant, extra in variants.items():
            for template in templates:
                rel = template.relative_to(ROLES / role / "templates")
                jobs.append(
                    role_templates.Job(
                        role,
                        str(rel),
                        out / role / variant / rel.with_suffix(""),
                        {**ROLE_VARS.get(role, {}), **extra},
                    )
                )
    if not jobs:
        return []
    proc = role_templates.render(out, jobs)
    if proc.returncode != 0:
        raise SystemExit(f"rendering the shell templates failed:\n{proc.stdout}{proc.stderr}")
    rendered = [job.dest for job in jobs]
    for dest in rendered:
        text = dest.read_text()
        if "{{" in text or "{%" in text:
            raise SystemExit(f"{dest}: Jinja left in the rendered template")
        if not text.startswith("#!") and not DIRECTIVE.search(text):
            # Sourced by bash and zsh (the rc block): check it as bash.
            dest.write_text("# shellcheck shell=bash\n" + text)
    return rendered


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.support.shell_scripts OUTDIR", file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for path in [*shell_files(), *render(out)]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
