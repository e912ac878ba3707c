"""The workstation role run by ansible-playbook against this machine, into a throwaway HOME.

molecule (roles/workstation/molecule) covers a real host with another account; these
cover the byte-level promises about the user's own files.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.playbook import run_playbook

BLOCK = re.compile(
    r"# BEGIN ccprov managed block: claude-switch and cc aliases\n.*?"
    r"# END ccprov managed block: claude-switch and cc aliases\n",
    re.S,
)


def play(
    tmp_path: Path, home: Path, *extra: str, **variables: object
) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "workstations": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            }
        )
    )
    values = {
        "workstation_user": getpass.getuser(),
        "workstation_home": str(home),
        "workstation_local_base_url": "http://gateway.test:4000",
        "workstation_local_token": "sk-role-test-0123456789",
        **variables,
    }
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(values))
    os.chmod(vars_file, 0o600)
    return run_playbook(
        REPO / "playbooks/workstations.yml",
        inventory,
        "-e",
        f"@{vars_file}",
        *extra,
        env={
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        },
        timeout=300,
    )


def changed(proc: subprocess.CompletedProcess[str]) -> int:
    match = re.search(r"changed=(\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    return int(match.group(1))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def test_user_rc_bytes_are_kept_and_backed_up(tmp_path, home) -> None:
    original = "# my bashrc\r\nexport  ODD='spacing'   \n\n\talias ll='ls -l'\n"
    (home / ".bashrc").write_text(original, newline="")
    zsh_original = "setopt autocd\n# no trailing newline"
    (home / ".zshrc").write_text(zsh_original, newline="")
    proc = play(tmp_path, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    bashrc = (home / ".bashrc").read_bytes().decode()
    assert BLOCK.search(bashrc)
    assert BLOCK.sub("", bashrc) == original
    zshrc = (home / ".zshrc").read_bytes().decode()
    assert BLOCK.search(zshrc)
    # blockinfile separates the block from an unterminated last line with one newline.
    assert BLOCK.sub("", zshrc) == zsh_original + "\n"
    backups = [
        p.name for p in home.iterdir() if p.name.startswith(".bashrc.") and p.name.endswith("~")
    ]
    assert len(backups) == 1
    assert (home / backups[0]).read_bytes().decode() == original

    # Second run: nothing changes, no new backup.
    again = play(tmp_path, home)
    assert again.returncode == 0 and changed(again) == 0, again.stdout
    assert len([p for p in home.iterdir() if p.name.startswith(".bashrc.")]) == 1


def test_settings_merge_keeps_user_keys(tmp_path, home) -> None:
    (home / ".claude").mkdir()
    (home / ".claude/settings.json").write_text(
        json.dumps({"model": "opus", "env": {"MY_VAR": "keep"}, "permissions": {"allow": ["Bash"]}})
    )
    (home / ".claude.json").write_text(json.dumps({"numStartups": 7, "projects": {}}))
    proc = play(tmp_path, home, workstation_claude_settings_env={"DISABLE_TELEMETRY": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    settings = json.loads((home / ".claude/settings.json").read_text())
    assert settings == {
        "model": "opus",
        "env": {"MY_VAR": "keep", "DISABLE_TELEMETRY": "1"},
        "permissions": {"allow": ["Bash"]},
    }
    state = json.loads((home / ".claude.json").read_text())
    assert state == {"numStartups": 7, "projects": {}, "hasCompletedOnboarding": True}
    assert stat.S_IMODE((home / ".claude/settings.json").stat().st_mode) == 0o600


def test_invalid_settings_json_is_reported_not_overwritten(tmp_path, home) -> None:
    (home / ".claude").mkdir()
    broken = '{"env": {"A": 1,}}'
    (home / ".claude/settings.json").write_text(broken)
    proc = play(tmp_path, home, workstation_claude_settings_env={"DISABLE_TELEMETRY": "1"})
    assert proc.returncode != 0
    assert "is not valid JSON" in proc.stdout
    assert (home / ".claude/settings.json").read_text() == broken


def test_check_mode_writes_nothing(tmp_path, home) -> None:
    (home / ".bashrc").write_text("# mine\n")
    proc = play(tmp_path, home, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]
    assert (home / ".bashrc").read_text() == "# mine\n"
    assert "sk-role-test-0123456789" not in proc.stdout + proc.stderr


def test_secret_never_reaches_the_output_and_env_file_is_private(tmp_path, home) -> None:
    proc = play(tmp_path, home, "-v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sk-role-test-0123456789" not in proc.stdout + proc.stderr
    env_file = home / ".claude-backends.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert 'LOCAL_TOKEN="sk-role-test-0123456789"' in env_file.read_text()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"workstation_local_base_url": "gateway:4000"}, "Set workstation_local_base_url"),
        ({"workstation_local_token": ""}, "workstation_local_token"),
        ({"workstation_local_token": 'sk-"quoted'}, "workstation_local_token contain(s)"),
        ({"workstation_shells": ["fish"]}, "workstation_shells"),
    ],
)
def test_bad_inputs_fail_before_writing(tmp_path, home, variables, message) -> None:
    proc = play(tmp_path, home, **variables)
    assert proc.returncode != 0
    assert message in proc.stdout
    assert list(home.iterdir()) == []
    assert 'sk-"quoted' not in proc.stdout + proc.stderr


def test_existing_parent_directories_keep_their_mode(tmp_path, home) -> None:
    (home / ".local").mkdir(mode=0o700)
    (home / ".local").chmod(0o700)
    proc = play(tmp_path, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (home / ".local/bin/claude-switch").is_file()
    assert stat.S_IMODE((home / ".local").stat().st_mode) == 0o700
