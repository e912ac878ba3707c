"""Run the real claude-switch, sourced in real bash and zsh, and read back the shell's state.
The switcher and the aliases block are role templates (their backend names come from
roles/workstation/vars/backends.yml): rendered once per session, as the role renders them."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import role_templates

SHELLS = [s for s in ("bash", "zsh") if shutil.which(s)]

# Snapshot of a shell's state: exported variables, functions and options.
_SNAPSHOT = {
    "bash": 'env -0 > "$1.env"; declare -F > "$1.fn"; set -o > "$1.opt"',
    "zsh": 'env -0 > "$1.env"; print -l ${(k)functions} | sort > "$1.fn"; setopt > "$1.opt"',
}


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]
    functions_before: str
    functions_after: str
    options_before: str
    options_after: str

    @property
    def changed_env(self) -> dict[str, tuple[str | None, str | None]]:
        keys = set(self.before) | set(self.after)
        return {
            k: (self.before.get(k), self.after.get(k))
            for k in keys
            if self.before.get(k) != self.after.get(k)
        }


def _read_env(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in path.read_bytes().split(b"\0"):
        if b"=" in item:
            key, value = item.decode().split("=", 1)
            out[key] = value
    return out


@dataclass(frozen=True)
class Rendered:
    switch: Path
    """claude-switch as the role installs it."""
    rc_block: Path
    """The aliases block for ~/.bashrc and ~/.zshrc, launching `echo claude --flags`."""
    rc_block_claude: Path
    """The same block as the role's defaults render it: the aliases launch `claude --flags`."""
    rc_block_custom: Path
    """With workstation_claude_command `my-claude` (not the switcher's `claude` function)."""


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    out = tmp_path_factory.mktemp("switcher")
    result = Rendered(
        out / "claude-switch",
        out / "shellrc-block.sh",
        out / "shellrc-block-claude.sh",
        out / "shellrc-block-custom.sh",
    )
    proc = role_templates.render(
        out / "work",
        [
            role_templates.Job("workstation", "home/.local/bin/claude-switch.j2", result.switch),
            role_templates.Job(
                "workstation",
                "home/shellrc-block.sh.j2",
                result.rc_block,
                {
                    "workstation_claude_command": "echo claude",
                    "workstation_claude_flags": "--flags",
                },
            ),
            role_templates.Job(
                "workstation",
                "home/shellrc-block.sh.j2",
                result.rc_block_claude,
                {"workstation_claude_flags": "--flags"},
            ),
            role_templates.Job(
                "workstation",
                "home/shellrc-block.sh.j2",
                result.rc_block_custom,
                {"workstation_claude_command": "my-claude", "workstation_claude_flags": "--flags"},
            ),
        ],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return result


@pytest.fixture
def switch(rendered: Rendered) -> Path:
    return rendered.switch


@pytest.fixture
def home(tmp_path: Path, switch: Path) -> Path:
    h = tmp_path / "home"
    (h / ".local" / "bin").mkdir(parents=True)
    shutil.copy(switch, h / ".local" / "bin" / "claude-switch")
    return h


@pytest.fixture
def run_switch(home: Path, tmp_path: Path):
    """Source claude-switch with ARGS in SHELL (after PRELUDE) and snapshot before/after."""

    def run(
        shell: str, *args: str, prelude: str = "", extra_env: dict[str, str] | None = None
    ) -> Run:
        snap = tmp_path / "snap"
        fn = "snap() { " + _SNAPSHOT[shell] + "; }"
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
        script = f"""{fn}
{prelude}
snap {snap}.before
source claude-switch {quoted}
rc=$?
snap {snap}.after
echo "rc=$rc"
"""
        env = {
            "HOME": str(home),
            "PATH": f"{home}/.local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            **(extra_env or {}),
        }
        proc = subprocess.run(
            [shell, "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False
        )
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        assert last.startswith("rc="), f"the shell did not survive: {proc.stdout}{proc.stderr}"
        before_env = _read_env(Path(f"{snap}.before.env"))
        after_env = _read_env(Path(f"{snap}.after.env"))
        return Run(
            rc=int(last[3:]),
            stdout=proc.stdout,
            stderr=proc.stderr,
            before=before_env,
            after=after_env,
            functions_before=Path(f"{snap}.before.fn").read_text(),
            functions_after=Path(f"{snap}.after.fn").read_text(),
            options_before=Path(f"{snap}.before.opt").read_text(),
            options_after=Path(f"{snap}.after.opt").read_text(),
        )

    return run


def write_env(home: Path, text: str) -> Path:
    path = home / ".claude-backends.env"
    path.write_text(text)
    os.chmod(path, 0o600)
    return path
