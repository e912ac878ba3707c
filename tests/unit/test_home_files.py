"""The home_files module: JSON merges, blockinfile-compatible blocks, and whole runs of the
module (as Ansible runs it) against a throwaway home."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, load_file

MODULE = REPO / "plugins/modules/home_files.py"
home_files = load_file("home_files", MODULE)
MARKER = "# {mark} ccprov managed block"


def run_module(tmp_path: Path, check: bool = False, **args: Any) -> dict[str, Any]:
    """Run the module the way AnsiballZ does (arguments as JSON) and return its result."""
    params: dict[str, Any] = {"owner": None, **args}
    if check:
        params["_ansible_check_mode"] = True
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    result["_stdout"] = proc.stdout
    return result


# --- JSON merges ----------------------------------------------------------------------------


def test_merge_keeps_user_keys_and_reports_changes() -> None:
    current = {"theme": "dark", "env": {"MY_VAR": "1", "DISABLE_TELEMETRY": "0"}}
    changed = home_files.deep_merge(current, {"env": {"DISABLE_TELEMETRY": "1", "NEW": "x"}})
    assert current == {
        "theme": "dark",
        "env": {"MY_VAR": "1", "DISABLE_TELEMETRY": "1", "NEW": "x"},
    }
    assert sorted(changed) == ["env.DISABLE_TELEMETRY", "env.NEW"]


def test_merge_of_what_is_already_there_changes_nothing() -> None:
    current = {"hasCompletedOnboarding": True, "projects": {"/x": {"a": 1}}}
    assert home_files.deep_merge(current, {"hasCompletedOnboarding": True}) == []


def test_merge_replaces_a_non_object_with_an_object() -> None:
    current = {"env": "oops"}
    assert home_files.deep_merge(current, {"env": {"A": "1"}}) == ["env"]
    assert current == {"env": {"A": "1"}}


def test_missing_and_empty_files_are_empty_objects(tmp_path: Path) -> None:
    assert home_files.load_object(str(tmp_path / "none.json"))[0] == {}
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    assert home_files.load_object(str(empty))[0] == {}


def test_a_json_merge_diff_shows_key_names_never_values(tmp_path: Path) -> None:
    """`ccprov workstation --check -v` shows this diff: ~/.claude.json holds the user's own
    API key and MCP tokens, which must not reach the terminal or a log."""
    secret, token = "sk-ant-api03-users-own-key-0123456789", "mcp-token-0123456789abcdef"
    target = tmp_path / ".claude.json"
    for check in (True, False):
        target.write_text(json.dumps({"primaryApiKey": secret, "mcpServers": {"t": token}}))
        result = run_module(
            tmp_path,
            check=check,
            json=[{"path": str(target), "merge": {"hasCompletedOnboarding": True}}],
            _ansible_diff=True,
        )
        assert result.get("changed"), result
        assert secret not in result["_stdout"] and token not in result["_stdout"]
        assert "set hasCompletedOnboarding" in result["_stdout"]
    assert json.loads(target.read_text())["primaryApiKey"] == secret  # kept, only not shown


def test_invalid_json_is_reported_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"env": {"A": "1",}}\n')
    data, text, error = home_files.load_object(str(path))
    assert data is None
    assert error and "not valid JSON (line 1" in error and "left untouched" in error
    assert text == '{"env": {"A": "1",}}\n'


def test_a_json_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps([1, 2]))
    data, _, error = home_files.load_object(str(path))
    assert data is None and error and "not an object" in error


# --- blocks: byte for byte what ansible.builtin.blockinfile writes ----------------------------

ORIGINALS = [
    None,
    "",
    "# mine\n",
    "# my bashrc\r\nexport  ODD='spacing'   \n\n\talias ll='ls -l'\n",
    "setopt autocd\n# no trailing newline",
    "before\n# BEGIN ccprov managed block\nold block\n# END ccprov managed block\nafter\n",
    "# END ccprov managed block\nswapped\n# BEGIN ccprov managed block\ntail",
]


@pytest.mark.parametrize("original", ORIGINALS)
def test_block_matches_blockinfile(tmp_path: Path, original: str | None) -> None:
    target = tmp_path / "rc"
    if original is not None:
        target.write_bytes(original.encode())
    args = tmp_path / "args.json"
    args.write_text(
        json.dumps(
            {
                "ANSIBLE_MODULE_ARGS": {
                    "path": str(target),
                    "block": "alias cc='claude'\nexport X=1",
                    "marker": MARKER,
                    "create": True,
                }
            }
        )
    )
    subprocess.run(
        [sys.executable, "-m", "ansible.modules.blockinfile", str(args)],
        capture_output=True,
        check=True,
    )
    ours = home_files.with_block(
        None if original is None else original.encode(), "alias cc='claude'\nexport X=1", MARKER
    )
    assert ours == target.read_bytes()
    # Applying it again changes nothing.
    assert home_files.with_block(ours, "alias cc='claude'\nexport X=1", MARKER) == ours


@pytest.mark.parametrize(
    ("create", "shell", "login", "made"),
    [
        ("always", "zsh", "bash", True),
        ("never", "bash", "bash", False),
        ("if_login_shell", "zsh", "zsh", True),
        ("if_login_shell", "bash", "zsh", False),
        ("if_login_shell", "bash", "fish", True),
        ("if_login_shell", "zsh", "fish", False),
    ],
)
def test_which_missing_rc_files_are_made(create: str, shell: str, login: str, made: bool) -> None:
    assert home_files.creates_rc(create, shell, login) is made


# --- whole module runs ------------------------------------------------------------------------


def layout(home: Path) -> dict[str, Any]:
    return {
        "directories": [{"path": str(home / ".local/bin"), "mode": "0755"}],
        "files": [
            {
                "path": str(home / ".local/bin/tool"),
                "content": "echo hi\n",
                "mode": "0755",
                "validate": "sh -n %s",
            }
        ],
        "private_files": [{"path": str(home / ".tool.env"), "content": 'TOKEN="sk-secret-42"\n'}],
        "blocks": [
            {
                "path": str(home / ".bashrc"),
                "block": "alias t=tool",
                "marker": MARKER,
                "backup": True,
                "create": "always",
            },
        ],
        "json": [{"path": str(home / ".claude/settings.json"), "merge": {"env": {"A": "1"}}}],
    }


def test_a_run_writes_everything_and_a_second_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".bashrc").write_text("# mine\n")
    first = run_module(tmp_path, **layout(home))
    assert first["changed"] is True, first
    assert (home / ".local/bin/tool").read_text() == "echo hi\n"
    assert stat.S_IMODE((home / ".local/bin/tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((home / ".tool.env").stat().st_mode) == 0o600
    assert (home / ".bashrc").read_text().startswith("# mine\n# BEGIN ccprov managed block\n")
    assert json.loads((home / ".claude/settings.json").read_text()) == {"env": {"A": "1"}}
    assert len(first["backups"]) == 1 and Path(first["backups"][0]).read_text() == "# mine\n"
    assert "sk-secret-42" not in first["_stdout"]

    second = run_module(tmp_path, **layout(home))
    assert second["changed"] is False and second["changes"] == [], second


def test_check_mode_writes_nothing_and_hides_secrets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = run_module(tmp_path, check=True, **layout(home))
    assert result["changed"] is True
    assert list(home.iterdir()) == []
    assert "sk-secret-42" not in result["_stdout"]


def test_a_broken_settings_file_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude/settings.json").write_text('{"env": {"A": 1,}}')
    result = run_module(tmp_path, **layout(home))
    assert result.get("failed") is True
    assert "not valid JSON" in result["msg"]
    assert sorted(p.name for p in home.iterdir()) == [".claude"]


def test_a_file_the_validator_rejects_is_not_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tool").write_text("echo old\n")
    result = run_module(
        tmp_path,
        files=[{"path": str(home / "tool"), "content": "if then fi(\n", "validate": "sh -n %s"}],
    )
    assert result.get("failed") is True and "rejected it" in result["msg"]
    assert (home / "tool").read_text() == "echo old\n"
    assert [p.name for p in home.iterdir()] == ["tool"]  # no temporary file left


def test_a_new_private_file_is_never_readable_by_others(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    old_umask = os.umask(0)
    try:
        run_module(tmp_path, private_files=[{"path": str(home / "k"), "content": "x"}])
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((home / "k").stat().st_mode) == 0o600


def test_user_rc_file_keeps_its_mode_and_symlink(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "dotfiles").mkdir(parents=True)
    real = home / "dotfiles/bashrc"
    real.write_text("# mine\n")
    real.chmod(0o600)
    (home / ".bashrc").symlink_to(real)
    run_module(
        tmp_path,
        blocks=[{"path": str(home / ".bashrc"), "block": "alias t=tool", "marker": MARKER}],
    )
    assert (home / ".bashrc").is_symlink()
    assert "alias t=tool" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_missing_rc_files_of_other_shells_are_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    run_module(
        tmp_path,
        blocks=[
            {
                "path": str(home / ".zshrc"),
                "block": "x",
                "marker": MARKER,
                "create": "if_login_shell",
                "shell": "zsh",
            },
            {
                "path": str(home / ".bashrc"),
                "block": "x",
                "marker": MARKER,
                "create": "if_login_shell",
                "shell": "bash",
            },
        ],
    )
    # No owner given: the login shell is unknown, so bash is the default.
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]


def test_an_ordinary_user_cannot_give_files_away(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(home_files.os, "getuid", lambda: 1000)
    monkeypatch.setattr(home_files.os, "getgid", lambda: 1000)
    calls: list[tuple[int, int]] = []

    def chown(path: str, uid: int, gid: int) -> None:
        calls.append((uid, gid))
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(home_files.os, "chown", chown)
    with pytest.raises(home_files.PlanError, match="only root can write it"):
        home_files.give(str(tmp_path / "f"), 1001, 1001, "/home/dev/.bashrc")
    # Our own file in a group we are not in: written anyway, with our primary group.
    home_files.give(str(tmp_path / "f"), 1000, 50, "/home/me/.bashrc")
    assert calls == [(-1, 50)]
