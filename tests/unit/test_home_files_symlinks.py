"""home_files run as root for another account (issue #18): it never writes, chmods or chowns
through a symlink out of that account's home or to what the account does not own, its
backups belong to the file's owner, and rc files with unbalanced markers are refused.

Each test runs the module as Ansible does (JSON arguments, as root) for a throwaway account
whose home is a temporary directory it owns."""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_home_files import MARKER, home_files, run_module

ACCOUNT = "ccprov-hftest"
BLOCK = {"block": "alias t=tool", "marker": MARKER}
BEGIN = "# BEGIN ccprov managed block\n"
END = "# END ccprov managed block\n"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (writes for another uid)")


@pytest.fixture(scope="module")
def dev() -> Iterator[pwd.struct_passwd]:
    """A throwaway account; removed afterwards if this module made it."""
    made = False
    try:
        pwd.getpwnam(ACCOUNT)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--no-create-home",
                "--home-dir",
                f"/nonexistent/{ACCOUNT}",
                "--shell",
                "/bin/bash",
                "--user-group",
                ACCOUNT,
            ],
            check=True,
        )
        made = True
    try:
        yield pwd.getpwnam(ACCOUNT)
    finally:
        if made:
            subprocess.run(["userdel", ACCOUNT], check=False)


@pytest.fixture
def home(tmp_path: Path, dev: pwd.struct_passwd) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o750)
    os.chown(path, dev.pw_uid, dev.pw_gid)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Root's things outside the home: a bin directory, a config file, a sudoers-like dir."""
    path = tmp_path / "outside"
    (path / "bin").mkdir(parents=True)
    (path / "bin/tool").write_text("#!/bin/sh\necho root's\n")
    (path / "bin/tool").chmod(0o755)
    (path / "profile").write_text("# root's profile\n")
    (path / "profile").chmod(0o644)
    (path / "claude").mkdir()
    (path / "claude/settings.json").write_text('{"root": true}\n')
    return path


def mine(dev: pwd.struct_passwd, *paths: Path) -> None:
    for path in paths:
        os.chown(path, dev.pw_uid, dev.pw_gid, follow_symlinks=False)


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every path under root with its bytes (or link text), owner, group and mode."""
    found: dict[str, tuple[Any, ...]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        if path.is_symlink():
            content: Any = os.readlink(path)
        elif path.is_file():
            content = path.read_bytes()
        else:
            content = None
        found[str(path)] = (content, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
    return found


def run(home: Path, **args: Any) -> dict[str, Any]:
    return run_module(home.parent, owner=ACCOUNT, home=str(home), **args)


def refused(result: dict[str, Any], *named: object) -> str:
    assert result.get("failed") is True, result
    message = str(result["msg"])
    assert "\n" not in message, message
    for part in named:
        assert str(part) in message, message
    return message


def script(home: Path) -> dict[str, Any]:
    return {
        "directories": [{"path": str(home / ".local/bin"), "mode": "0755"}],
        "files": [
            {
                "path": str(home / ".local/bin/claude-switch"),
                "content": "echo switch\n",
                "mode": "0755",
                "validate": "sh -n %s",
            }
        ],
    }


# --- links that leave the home or reach what the account does not own ------------------------


@pytest.mark.parametrize("linked", [".local/bin", ".local"])
def test_a_linked_bin_directory_outside_the_home_is_refused(
    home: Path, outside: Path, dev: pwd.struct_passwd, linked: str
) -> None:
    """~/.local/bin (or ~/.local) -> root's directory: claude-switch is not written there."""
    if linked == ".local/bin":
        (home / ".local").mkdir()
        mine(dev, home / ".local")
        (home / ".local/bin").symlink_to(outside / "bin")
        target = outside / "bin"
    else:
        (home / ".local").symlink_to(outside)
        target = outside
    mine(dev, home / linked)
    before = snapshot(outside)
    message = refused(run(home, **script(home)), home / linked, target)
    assert message == (
        f"{home / linked} is a symlink to {target}, outside {ACCOUNT}'s home {home}:"
        " home_files does not write through it. Nothing was changed."
    )
    assert snapshot(outside) == before
    assert not (outside / "bin/claude-switch").exists()


def test_a_linked_bashrc_outside_the_home_is_refused(
    home: Path, outside: Path, dev: pwd.struct_passwd
) -> None:
    """~/.bashrc -> root's file: no block appended, no chown, no backup anywhere."""
    (home / ".bashrc").symlink_to(outside / "profile")
    mine(dev, home / ".bashrc")
    before, home_before = snapshot(outside), snapshot(home)
    result = run(home, blocks=[{"path": str(home / ".bashrc"), **BLOCK, "backup": True}])
    refused(result, f"{home / '.bashrc'} is a symlink to {outside / 'profile'}, outside")
    assert snapshot(outside) == before
    assert snapshot(home) == home_before


@pytest.mark.parametrize("owned_by_dev", [False, True])
def test_a_linked_claude_directory_outside_the_home_is_refused(
    home: Path, outside: Path, dev: pwd.struct_passwd, owned_by_dev: bool
) -> None:
    """~/.claude -> a directory outside the home, even one the account owns: untouched."""
    if owned_by_dev:
        mine(dev, outside / "claude", outside / "claude/settings.json")
    (home / ".claude").symlink_to(outside / "claude")
    mine(dev, home / ".claude")
    before = snapshot(outside)
    result = run(
        home,
        directories=[{"path": str(home / ".claude/skills"), "mode": "0755"}],
        json=[{"path": str(home / ".claude/settings.json"), "merge": {"env": {"A": "1"}}}],
    )
    refused(result, home / ".claude", outside / "claude", "outside")
    assert snapshot(outside) == before


def test_a_dangling_link_out_of_the_home_is_refused(home: Path, outside: Path) -> None:
    (home / ".claude.json").symlink_to(outside / "new.json")
    before = snapshot(outside)
    result = run(home, json=[{"path": str(home / ".claude.json"), "merge": {"a": 1}}])
    refused(result, home / ".claude.json", outside / "new.json")
    assert snapshot(outside) == before


def test_a_link_in_the_home_to_another_uids_file_is_refused(
    home: Path, outside: Path, dev: pwd.struct_passwd
) -> None:
    """~/.bashrc -> ~/dotfiles/bashrc that root (or uid 4242) owns: neither written nor
    given to the account."""
    (home / "dotfiles").mkdir()
    mine(dev, home / "dotfiles")
    for name, uid in (("bashrc", 0), ("zshrc", 4242)):
        (home / "dotfiles" / name).write_text("# not yours\n")
        os.chown(home / "dotfiles" / name, uid, uid)
        (home / f".{name}").symlink_to(home / "dotfiles" / name)
        mine(dev, home / f".{name}")
    before = snapshot(home)
    message = refused(
        run(home, blocks=[{"path": str(home / ".bashrc"), **BLOCK}]), home / ".bashrc"
    )
    assert message == (
        f"{home / '.bashrc'} is a symlink to {home / 'dotfiles/bashrc'}, which belongs to"
        f" root, not {ACCOUNT}: home_files does not write through it. Nothing was changed."
    )
    # A file whose content is already right would only be chowned: not through the link.
    result = run(home, files=[{"path": str(home / ".zshrc"), "content": "# not yours\n"}])
    refused(result, home / ".zshrc", home / "dotfiles/zshrc", "belongs to uid 4242")
    assert snapshot(home) == before


def test_a_hard_link_to_roots_file_is_not_chowned(
    home: Path, outside: Path, dev: pwd.struct_passwd
) -> None:
    os.link(outside / "profile", home / ".profile")
    before = snapshot(outside)
    result = run(home, files=[{"path": str(home / ".profile"), "content": "# root's profile\n"}])
    refused(result, home / ".profile", "hard link", "root")
    assert snapshot(outside) == before


def test_a_path_outside_the_home_is_refused(home: Path, outside: Path) -> None:
    before = snapshot(outside)
    result = run(home, files=[{"path": str(outside / "bin/claude-switch"), "content": "x\n"}])
    refused(result, outside / "bin/claude-switch", f"outside {ACCOUNT}'s home {home}")
    assert snapshot(outside) == before


def test_the_checks_come_before_any_write(home: Path, outside: Path) -> None:
    """A bad link late in the plan: the directories and files before it are not made."""
    (home / ".bashrc").symlink_to(outside / "profile")
    result = run(
        home,
        **script(home),
        blocks=[{"path": str(home / ".bashrc"), **BLOCK}],
    )
    refused(result, home / ".bashrc")
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]


def test_a_fifo_does_not_hang_the_run(home: Path, dev: pwd.struct_passwd) -> None:
    os.mkfifo(home / ".claude.json")
    mine(dev, home / ".claude.json")
    result = run(home, json=[{"path": str(home / ".claude.json"), "merge": {"a": 1}}])
    refused(result, home / ".claude.json", "is not a regular file")


# --- links that stay in the home keep working ---------------------------------------------


def test_links_inside_the_home_to_the_accounts_own_files_are_followed(
    home: Path, outside: Path, dev: pwd.struct_passwd
) -> None:
    dotfiles = home / "dotfiles"
    (dotfiles / "claude").mkdir(parents=True)
    (dotfiles / "bashrc").write_text("# mine\n")
    (dotfiles / "bashrc").chmod(0o600)
    (home / ".bashrc").symlink_to("dotfiles/bashrc")  # relative, as dotfile managers do
    (home / ".claude").symlink_to(dotfiles / "claude")
    (home / ".claude.json").symlink_to(dotfiles / "claude.json")  # not there yet
    mine(dev, dotfiles, dotfiles / "claude", dotfiles / "bashrc", *home.iterdir())
    before = snapshot(outside)
    result = run(
        home,
        files=script(home)["files"],
        blocks=[{"path": str(home / ".bashrc"), **BLOCK, "backup": True}],
        directories=[
            *script(home)["directories"],
            {"path": str(home / ".claude/skills"), "mode": "0755"},
        ],
        json=[
            {"path": str(home / ".claude/settings.json"), "merge": {"env": {"A": "1"}}},
            {"path": str(home / ".claude.json"), "merge": {"hasCompletedOnboarding": True}},
        ],
    )
    assert result.get("failed") is not True, result
    for link in (".bashrc", ".claude", ".claude.json"):
        assert (home / link).is_symlink(), link
    assert (dotfiles / "bashrc").read_text() == f"# mine\n{BEGIN}alias t=tool\n{END}"
    assert stat.S_IMODE((dotfiles / "bashrc").stat().st_mode) == 0o600
    assert json.loads((dotfiles / "claude/settings.json").read_text()) == {"env": {"A": "1"}}
    assert (dotfiles / "claude.json").exists()
    assert (dotfiles / "claude/skills").is_dir()
    assert (home / ".local/bin/claude-switch").read_text() == "echo switch\n"
    for path in [home / ".local", *home.rglob("*")]:
        assert path.lstat().st_uid == dev.pw_uid, path
    assert snapshot(outside) == before
    again = run(
        home,
        blocks=[{"path": str(home / ".bashrc"), **BLOCK}],
        json=[{"path": str(home / ".claude.json"), "merge": {"hasCompletedOnboarding": True}}],
    )
    assert again["changed"] is False, again


def test_a_component_turned_into_a_link_after_planning_stops_the_write(
    home: Path, outside: Path, dev: pwd.struct_passwd
) -> None:
    """The race: ~/.local/bin is a directory when planned and a link to root's directory
    when written. The directories are walked with O_NOFOLLOW, so the write stops."""
    (home / ".local/bin").mkdir(parents=True)
    mine(dev, home / ".local", home / ".local/bin")
    owner = home_files.resolve_owner(ACCOUNT, str(home))
    params: dict[str, Any] = {
        "directories": [],
        "private_files": [],
        "blocks": [],
        "json": [],
        "files": [
            {"path": str(home / ".local/bin/claude-switch"), "content": "x\n", "mode": "0755"}
        ],
    }
    changes = home_files.plan(params, owner)
    (home / ".local/bin").rmdir()
    (home / ".local/bin").symlink_to(outside / "bin")
    before = snapshot(outside)

    class Module:
        check_mode = False

    with pytest.raises(home_files.PlanError, match="became a symlink"):
        home_files.apply(Module(), changes, owner)
    assert snapshot(outside) == before


def test_the_home_defaults_to_the_accounts_home_in_passwd(dev: pwd.struct_passwd) -> None:
    assert home_files.resolve_owner(ACCOUNT).home == dev.pw_dir
    # Running as the account itself (root here): its own links are its own business.
    assert home_files.resolve_owner("root").home is None


# --- backups -------------------------------------------------------------------------------


def test_a_backup_belongs_to_the_files_owner(home: Path, dev: pwd.struct_passwd) -> None:
    rc = home / ".bashrc"
    rc.write_text("# mine\n")
    rc.chmod(0o640)
    mine(dev, rc)
    result = run(home, blocks=[{"path": str(rc), **BLOCK, "backup": True}])
    assert result.get("failed") is not True, result
    (made,) = result["backups"]
    copy = Path(made)
    assert copy.parent == home and copy.name.startswith(".bashrc.")
    assert copy.read_text() == "# mine\n"
    info = copy.lstat()
    assert (info.st_uid, info.st_gid) == (dev.pw_uid, dev.pw_gid)
    assert stat.S_IMODE(info.st_mode) == 0o640


def test_a_backup_made_without_owner_keeps_the_files_uid_and_gid(tmp_path: Path) -> None:
    """As root with no owner: the backup is the file's (uid 4242), never root's; a setgid
    or wider bit is not copied."""
    rc = tmp_path / "home/.zshrc"
    rc.parent.mkdir()
    rc.write_text("# theirs\n")
    os.chown(rc, 4242, 4243)
    rc.chmod(0o2600)
    result = run_module(tmp_path, blocks=[{"path": str(rc), **BLOCK, "backup": True}])
    (made,) = result["backups"]
    info = Path(made).lstat()
    assert (info.st_uid, info.st_gid) == (4242, 4243)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert Path(made).read_text() == "# theirs\n"


# --- managed blocks with markers that do not pair up --------------------------------------


@pytest.mark.parametrize(
    ("original", "line", "problem"),
    [
        (f"# mine\n{BEGIN}alias old\nmy line\n", 2, "without an END marker after it"),
        (f"# mine\n{END}my line\n", 2, "without a BEGIN marker before it"),
        (f"{BEGIN}old\n{END}my lines\nmore\n{BEGIN}tail\n", 6, "a second"),
        (f"{BEGIN}old\n{BEGIN}new\n{END}", 3, "(the first is on line 1)"),
        (f"{BEGIN}a\n{END}{BEGIN}b\n{END}", 4, "a second"),
        (f"# mine\r\n{END}x\n{BEGIN}y\n{END}", 2, "without a BEGIN marker before it"),
        (f"# mine\n{BEGIN.strip()}", 2, "without an END marker after it"),
    ],
)
@pytest.mark.parametrize("for_account", [False, True])
def test_unbalanced_markers_are_refused_and_nothing_is_written(
    home: Path, dev: pwd.struct_passwd, original: str, line: int, problem: str, for_account: bool
) -> None:
    rc = home / ".bashrc"
    rc.write_text(original)
    mine(dev, rc)
    before = snapshot(home)
    args = {**script(home), "blocks": [{"path": str(rc), **BLOCK, "backup": True}]}
    result = run(home, **args) if for_account else run_module(home.parent, **args)
    message = refused(result, f"{rc} line {line}: ", problem, "Nothing was changed.")
    assert "ccprov managed block" in message
    assert snapshot(home) == before


def test_the_marker_message(tmp_path: Path) -> None:
    with pytest.raises(home_files.PlanError) as caught:
        home_files.check_markers(f"x\n{BEGIN}a\n{BEGIN}b\n".encode(), MARKER, "/h/.bashrc")
    assert str(caught.value) == (
        "/h/.bashrc line 4: a second '# BEGIN ccprov managed block' (the first is on line 2);"
        " fix the markers by hand, then run again. Nothing was changed."
    )
    # One pair, or none, is fine.
    home_files.check_markers(f"x\n{BEGIN}a\n{END}y\n".encode(), MARKER, "/h/.bashrc")
    home_files.check_markers(b"x\n", MARKER, "/h/.bashrc")
