#!/usr/bin/python
"""Lay out one account's home in a single module call.

Directories, whole files, managed blocks in the user's own files (blockinfile's format)
and key merges into JSON settings: everything one developer's setup writes. One call
instead of one per file is what makes `ccprov workstation` take seconds: every module call
costs a Python start on the host.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pwd
import secrets
import shlex
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: home_files
short_description: Directories, files, managed blocks and JSON merges in one call
description:
  - Plans every change first (reading each file, merging each JSON object) and writes only
    when the whole plan is valid, so a broken C(settings.json) stops the run before
    anything is written.
  - Each file is written to a temporary file with its final mode and owner, validated, and
    renamed over the old one; never half-written, never briefly world-readable.
  - Managed blocks follow M(ansible.builtin.blockinfile) (C(insertafter=EOF)); every byte
    outside the markers is kept, symlinked rc files are followed, and the user's file keeps
    its mode. A file whose markers do not pair up (a BEGIN without END, an END without
    BEGIN, two BEGINs) is refused with its line number, before anything is written.
  - Run for another account (as root), it never reads, writes, chmods or chowns through a
    symlink below that account's home that leads out of the home or to something the
    account does not own, nor changes a hard-linked file of another owner; the run fails,
    naming the link and its target, before anything is written. Links inside the home to
    the account's own files and directories are followed (a symlinked file is written
    where it points, the link is kept). Writes then open every directory from C(/) with
    O_NOFOLLOW relative to its parent, so a link put in place while the module runs stops
    it instead of being followed.
  - Backups keep the owner (uid and gid) of the file they copy, and at most its mode.
options:
  owner:
    description: Account that owns what is created (its primary group too); existing
      files and directories get this owner if they have another.
    type: str
  home:
    description: The home of O(owner) that every path must be in when the module runs for
      another account (symlinks may not lead out of it). Default is the owner's home in
      the passwd database.
    type: path
  directories:
    description: Directories to create, parents first; missing parents get mode 0755.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path (C(~user/...) is that account's home).
        type: path
        required: true
      mode:
        description: Octal mode.
        type: str
        default: "0755"
  files:
    description: Files with this exact content.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: Text to write.
        type: str
        required: true
      mode:
        description: Octal mode.
        type: str
        default: "0644"
      validate:
        description: Command run on the new file before it replaces the old (C(%s) is its path).
        type: str
      force:
        description: Replace a file that already exists.
        type: bool
        default: true
  private_files:
    description: Files holding secrets. Their content is never logged or shown in a diff.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: Text to write (kept out of logs).
        type: str
        required: true
      mode:
        description: Octal mode.
        type: str
        default: "0600"
  blocks:
    description: Blocks between marker lines in the user's own files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path; a symlink is followed (for another account only
          inside its home, to a file it owns).
        type: path
        required: true
      block:
        description: Text between the markers.
        type: str
        required: true
      marker:
        description: Marker line with C({mark}) for BEGIN and END.
        type: str
        required: true
      create:
        description: When the file is missing, C(always) creates it, C(never) skips it, and
          C(if_login_shell) creates it only for the owner's login shell (see O(blocks[].shell)),
          or for bash when the login shell is neither bash nor zsh.
        type: str
        choices: [always, never, if_login_shell]
        default: always
      shell:
        description: The shell this rc file is for (bash or zsh).
        type: str
      mode:
        description: Octal mode when the file is created.
        type: str
        default: "0644"
      backup:
        description: Keep a timestamped copy of the file before changing it.
        type: bool
        default: false
  json:
    description: Keys merged into JSON objects; nested objects are merged key by key and
      every other key is kept. A file that is not a JSON object is reported, never overwritten.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path; created if missing.
        type: path
        required: true
      merge:
        description: Keys to set.
        type: dict
        required: true
      mode:
        description: Octal mode.
        type: str
        default: "0600"
"""

EXAMPLES = r"""
- name: Install a script and a private env file, add an rc block, merge settings
  ccprov.stack.home_files:
    owner: dev
    directories:
      - {path: /home/dev/.local/bin, mode: "0755"}
    files:
      - {path: /home/dev/.local/bin/hello, content: "echo hi\n", mode: "0755", validate: bash -n %s}
    private_files:
      - {path: /home/dev/.tool.env, content: "TOKEN=secret\n"}
    blocks:
      - {path: /home/dev/.bashrc, block: "alias hi=hello", marker: "# {mark} hello", backup: true}
    json:
      - {path: /home/dev/.claude/settings.json, merge: {env: {DISABLE_TELEMETRY: "1"}}}
"""

RETURN = r"""
changes:
  description: One line per change, e.g. C(created /home/dev/.bashrc).
  type: list
  returned: always
backups:
  description: Backup copies made of changed files.
  type: list
  returned: always
"""

HIDDEN = "(private content, not shown)\n"
HIDDEN_NEW = "(new private content, not shown)\n"

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Every directory is opened relative to its parent's descriptor with O_NOFOLLOW: a component
# swapped for a symlink after planning makes the open fail (ELOOP/ENOTDIR) instead of being
# followed, which a check by path name followed by a write by path name cannot promise.
# O_PATH (Linux) needs only search permission, as a path lookup does; the descriptors are
# used as dir_fd only. A directory whose mode or owner is set is opened O_RDONLY for that.
DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
DIR_CHANGE_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
# O_NONBLOCK: a FIFO put where a file is expected must not hang the run.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
SWAPPED = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


class PlanError(Exception):
    """A change that cannot be made; the message names the file and the fix."""


@dataclass
class Owner:
    uid: int | None = None
    gid: int | None = None
    shell: str = ""
    name: str = ""
    # Set when the module runs for another account (as root): the home its links must
    # stay in. Running as the account itself, the kernel's permission checks already keep
    # its own links from getting it more than it has, so links are followed as they are.
    home: str | None = None


@dataclass
class Change:
    """One path's planned state: new bytes to write (None: keep content) and attributes."""

    path: str
    kind: str  # directory | file | block
    data: bytes | None
    mode: int | None
    exists: bool
    before: bytes | None = None
    private: bool = False
    validate: str | None = None
    backup: bool = False
    notes: list[str] = field(default_factory=list)
    # What a diff shows instead of the content (JSON merges: the changed key names only, as
    # ~/.claude.json holds the user's own API key and MCP tokens).
    summary: tuple[str, str] | None = None
    # The symlink-free path read and written for ``path`` (checked while planning).
    real: str = ""

    def __post_init__(self) -> None:
        self.real = self.real or self.path


# --- pure logic (unit-tested) -------------------------------------------------------------


def deep_merge(current: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """Merge ``wanted`` into ``current`` in place; return the dotted keys that changed."""
    changed: list[str] = []
    for key, value in wanted.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            changed += deep_merge(current[key], value, dotted + ".")
        elif current.get(key, object()) != value:
            current[key] = value
            changed.append(dotted)
    return changed


def parse_object(path: str, raw: bytes | None) -> tuple[dict[str, Any] | None, str, str | None]:
    """Return (object, original text, error) of a file's bytes. A missing file is an empty
    object."""
    if raw is None:
        return {}, "", None
    text = raw.decode("utf-8")
    if not text.strip():
        return {}, text, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return (
            None,
            text,
            (
                f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "fix it or move it aside, then run again. It was left untouched."
            ),
        )
    if not isinstance(data, dict):
        return (
            None,
            text,
            f"{path} holds a JSON {type(data).__name__}, not an object;"
            " fix it or move it aside. It was left untouched.",
        )
    return data, text, None


def load_object(path: str) -> tuple[dict[str, Any] | None, str, str | None]:
    """Return (object, original text, error). A missing file is an empty object."""
    return parse_object(path, read(os.path.realpath(path)))


def with_block(original: bytes | None, block: str, marker: str) -> bytes:
    """``original`` with the marked block replaced, or appended at the end (blockinfile's way)."""
    lines = original.splitlines(True) if original else []
    begin = marker.replace("{mark}", "BEGIN").encode() + b"\n"
    end = marker.replace("{mark}", "END").encode() + b"\n"
    body = block.encode()
    if body and not body.endswith(b"\n"):
        body += b"\n"
    new = [begin, *body.splitlines(True), end] if body else []
    first = last = None
    for index, line in enumerate(lines):
        if line == begin:
            first = index
        if line == end:
            last = index
    if first is None or last is None:
        at = len(lines)
    elif first < last:
        del lines[first : last + 1]
        at = first
    else:
        del lines[last : first + 1]
        at = last
    if at > 0 and not lines[at - 1].endswith(b"\n"):
        lines[at - 1] += b"\n"
    lines[at:at] = new
    return b"".join(lines)


def check_markers(original: bytes | None, marker: str, path: str) -> None:
    """Refuse a file whose markers do not make exactly one BEGIN..END pair (or none).

    blockinfile takes the last BEGIN and the last END and replaces everything between them:
    with a stray marker that is the user's own lines. A marker line is one with_block
    matches, or the same text as the file's last line without its newline.
    """
    if not original:
        return
    begin = marker.replace("{mark}", "BEGIN").encode()
    end = marker.replace("{mark}", "END").encode()
    fix = "fix the markers by hand, then run again. Nothing was changed."
    opened: int | None = None
    first: int | None = None
    number = 1
    for line in original.splitlines(True):
        text = line[:-1] if line.endswith(b"\n") else line
        shown_text = text.decode("utf-8", "replace")
        if text == begin:
            if first is not None:
                raise PlanError(
                    f"{path} line {number}: a second '{shown_text}' (the first is on line"
                    f" {first}); {fix}"
                )
            opened = first = number
        elif text == end:
            if opened is None:
                raise PlanError(
                    f"{path} line {number}: '{shown_text}' without a BEGIN marker before it; {fix}"
                )
            opened = None
        number += line.count(b"\n")
    if opened is not None:
        raise PlanError(
            f"{path} line {opened}: '{begin.decode('utf-8', 'replace')}' without an END marker"
            f" after it; {fix}"
        )


def octal(mode: str, path: str) -> int:
    try:
        return int(str(mode), 8)
    except ValueError:
        raise PlanError(f"mode {mode!r} for {path} is not an octal mode like '0644'") from None


# --- symlinks: where a path really leads, and whether the account may have it ------------


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def account(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def resolve(path: str, owner: Owner) -> str:
    """The symlink-free path that is read and written for ``path``.

    For another account (owner.home set) every symlink below its home, at any component
    including the last, must lead to a place inside the home that the account owns (or to
    nothing yet, inside the home); anything else is refused here, while planning, so
    nothing is written. Links above the home (/home -> /data/home) are the host's and are
    followed. The writes then walk this path with O_NOFOLLOW (open_dir).
    """
    path = os.path.normpath(path)
    real = os.path.realpath(path)
    if owner.home is None:
        return real
    home = os.path.normpath(owner.home)
    home_real = os.path.realpath(home)
    for base in (home, home_real):
        if inside(path, base):
            break
    else:
        raise PlanError(
            f"{path} is outside {owner.name}'s home {home}: running for another account,"
            " home_files writes only in its home. Nothing was changed."
        )
    current = base
    for part in os.path.relpath(path, base).split(os.sep):
        if part == os.curdir:
            continue
        current = os.path.join(current, part)
        if not os.path.islink(current):
            continue
        target = os.path.realpath(current)
        if not inside(target, home_real):
            raise PlanError(
                f"{current} is a symlink to {target}, outside {owner.name}'s home {home}:"
                " home_files does not write through it. Nothing was changed."
            )
        try:
            found = os.stat(target)
        except FileNotFoundError:
            continue  # made inside the home, by us, for the account
        if found.st_uid != owner.uid:
            raise PlanError(
                f"{current} is a symlink to {target}, which belongs to"
                f" {account(found.st_uid)}, not {owner.name}: home_files does not write"
                " through it. Nothing was changed."
            )
    if not inside(real, home_real):  # not reached: every link was checked
        raise PlanError(f"{path} leads to {real}, outside {owner.name}'s home {home}")
    try:
        found = os.lstat(real)
    except FileNotFoundError:
        return real
    if stat.S_ISREG(found.st_mode) and found.st_nlink > 1 and found.st_uid != owner.uid:
        raise PlanError(
            f"{path} is a hard link to a file of {account(found.st_uid)}, not of"
            f" {owner.name}: home_files does not change it. Nothing was changed."
        )
    return real


def not_followed(path: str) -> str:
    """Why an open without following failed: a symlink that appeared after planning (a
    race: it is not followed), or a file where a directory should be."""
    if os.path.islink(path):
        return (
            f"{path} became a symlink (to {os.path.realpath(path)}) while home_files ran:"
            " not followed, stopped there"
        )
    return f"{path} is not a directory; move it aside and run again"


def open_dir(path: str, create: Owner | None = None, mode: int = 0o755) -> int | None:
    """A descriptor of directory ``path`` (symlink-free), opened one component at a time from
    / with O_NOFOLLOW, so a component swapped for a symlink since planning stops the run
    instead of being followed. A missing component: None, or with ``create`` it is made
    (mode 0755, the last one ``mode``) and given to the owner."""
    parts = [part for part in path.split("/") if part]
    fd = os.open("/", DIR_FLAGS)
    try:
        for index, part in enumerate(parts):
            shown = "/" + "/".join(parts[: index + 1])
            try:
                last = index == len(parts) - 1
                child = open_child(fd, part, shown, create, mode if last else 0o755)
            except OSError as exc:
                if exc.errno in SWAPPED:
                    raise PlanError(not_followed(shown)) from None
                raise
            os.close(fd)
            if child is None:
                return None
            fd = child
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd


def open_child(fd: int, name: str, shown: str, create: Owner | None, mode: int) -> int | None:
    """Directory ``name`` in ``fd`` (O_NOFOLLOW); made and given to ``create`` if missing."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        if create is None:
            return None
    os.mkdir(name, 0o700, dir_fd=fd)
    made = os.open(name, DIR_CHANGE_FLAGS, dir_fd=fd)
    try:
        give(
            made,
            -1 if create.uid is None else create.uid,
            -1 if create.gid is None else create.gid,
            shown,
        )
        os.chmod(made, mode)
    finally:
        os.close(made)
    return os.open(name, DIR_FLAGS, dir_fd=fd)


def open_file(dir_fd: int, name: str, path: str, flags: int = READ_FLAGS) -> int | None:
    """The existing file ``name`` in ``dir_fd``, never through a symlink; None if missing."""
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in SWAPPED:
            raise PlanError(not_followed(path)) from None
        raise
    found = os.fstat(fd)
    if stat.S_ISREG(found.st_mode) or (flags & os.O_DIRECTORY and stat.S_ISDIR(found.st_mode)):
        return fd
    os.close(fd)
    if stat.S_ISDIR(found.st_mode):
        raise PlanError(f"{path} is a directory; move it aside and run again")
    raise PlanError(f"{path} is not a regular file; move it aside and run again")


def read(path: str) -> bytes | None:
    """The bytes of symlink-free ``path``, None if it is missing."""
    directory = open_dir(os.path.dirname(path))
    if directory is None:
        return None
    try:
        fd = open_file(directory, os.path.basename(path), path)
    finally:
        os.close(directory)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


# --- planning -----------------------------------------------------------------------------


def creates_rc(create: str, shell: str | None, login_shell: str) -> bool:
    """Whether a missing rc file is made: always, never, or for the login shell only."""
    if create != "if_login_shell":
        return create == "always"
    return shell == (login_shell if login_shell in ("bash", "zsh") else "bash")


def plan(params: dict[str, Any], owner: Owner) -> list[Change]:
    """Every change the parameters ask for, computed before anything is written."""
    for key in ("directories", "files", "private_files", "blocks", "json"):
        for entry in params[key]:
            if not os.path.isabs(entry["path"]):
                raise PlanError(
                    f"{entry['path']} is not an absolute path (is its account on this host?)"
                )
    changes: list[Change] = []
    for entry in params["directories"]:
        path = entry["path"]
        real = resolve(path, owner)
        try:
            is_dir: bool | None = stat.S_ISDIR(os.lstat(real).st_mode)
        except FileNotFoundError:
            is_dir = None
        if is_dir is False:
            raise PlanError(f"{path} exists and is not a directory; move it aside and run again")
        changes.append(
            Change(path, "directory", None, octal(entry["mode"], path), bool(is_dir), real=real)
        )
    for entry, private in [(e, False) for e in params["files"]] + [
        (e, True) for e in params["private_files"]
    ]:
        path = entry["path"]
        real = resolve(path, owner)
        before = read(real)
        keep = before is not None and not entry.get("force", True)
        data = None if keep else entry["content"].encode()
        changes.append(
            Change(
                path,
                "file",
                None if data == before else data,
                octal(entry["mode"], path),
                before is not None,
                before,
                private=private,
                validate=entry.get("validate"),
                real=real,
            )
        )
    for entry in params["blocks"]:
        real = resolve(entry["path"], owner)
        before = read(real)
        if before is None and not creates_rc(entry["create"], entry["shell"], owner.shell):
            continue
        check_markers(before, entry["marker"], real)
        after = with_block(before, entry["block"], entry["marker"])
        changes.append(
            Change(
                real,
                "block",
                None if after == before else after,
                # The user's own file keeps its mode; ours only sets it on a new file.
                octal(entry["mode"], real) if before is None else None,
                before is not None,
                before,
                backup=bool(entry["backup"]),
            )
        )
    for entry in params["json"]:
        path = entry["path"]
        real = resolve(path, owner)
        raw = read(real)
        data, _, error = parse_object(path, raw)
        if error or data is None:
            raise PlanError(error or f"{path} could not be read")
        keys = deep_merge(data, entry["merge"])
        after = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()
        exists = raw is not None
        change = Change(
            path,
            "file",
            after if keys or not exists else None,
            octal(entry["mode"], path),
            exists,
            raw,
            real=real,
        )
        if keys:
            change.notes.append("merged " + ", ".join(keys))
        change.summary = (
            "(JSON; values not shown)\n" if exists else "",
            "".join(f"set {key}\n" for key in keys) + "(other keys kept; values not shown)\n",
        )
        changes.append(change)
    return changes


# --- applying -----------------------------------------------------------------------------


def resolve_owner(name: str | None, home: str | None = None) -> Owner:
    if not name:
        return Owner()
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PlanError(f"owner '{name}' is not an account on this host") from None
    owner = Owner(entry.pw_uid, entry.pw_gid, os.path.basename(entry.pw_shell), name)
    if entry.pw_uid != os.geteuid():
        owner.home = home or entry.pw_dir
        if not os.path.isabs(owner.home):
            raise PlanError(f"home {owner.home!r} of {name} is not an absolute path")
    return owner


def give(target: int | str, uid: int, gid: int, shown: str) -> None:
    """chown (a path or a descriptor) as root; as an ordinary user keep the file's group if
    it is not one of ours."""
    if (uid, gid) in ((-1, -1), (os.getuid(), os.getgid())):
        return
    if os.getuid() == 0:
        os.chown(target, uid, gid)
        return
    if uid not in (-1, os.getuid()):
        raise PlanError(f"{shown} belongs to uid {uid}: only root can write it for that owner")
    # A group we are not in: the file keeps our primary group.
    with contextlib.suppress(PermissionError):
        os.chown(target, -1, gid)


def new_file(dir_fd: int, prefix: str) -> tuple[str, int]:
    """A new, empty, 0600 file in ``dir_fd`` with a random name (like tempfile.mkstemp)."""
    for _ in range(100):
        name = f"{prefix}{secrets.token_hex(4)}"
        try:
            return name, os.open(name, NEW_FLAGS, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise PlanError(f"no free temporary name {prefix}* in its directory")


def fd_path(dir_fd: int, directory: str, name: str) -> str:
    """A path to ``name`` in the directory we hold open, for a validator: through /proc it
    is that very directory even if its path has changed since."""
    proc = f"/proc/{os.getpid()}/fd/{dir_fd}"
    return os.path.join(proc if os.path.isdir(proc) else directory, name)


def backup(change: Change, dir_fd: int, name: str, found: os.stat_result) -> str:
    """A timestamped copy (backup_local's name) of the file as planned, next to it, owned
    like it (``found``: its fstat; uid and gid), never wider than its mode."""
    assert change.before is not None
    copy = f"{name}.{os.getpid()}.{time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime())}"
    fd = os.open(copy, NEW_FLAGS, 0o600, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as handle:
        handle.write(change.before)
        handle.flush()
        if os.geteuid() == 0:
            os.fchown(fd, found.st_uid, found.st_gid)
        else:  # the file's group, if we are in it
            with contextlib.suppress(PermissionError):
                os.fchown(fd, -1, found.st_gid)
        os.fchmod(fd, found.st_mode & 0o777)
        os.utime(fd, ns=(found.st_atime_ns, found.st_mtime_ns))
    return os.path.join(os.path.dirname(change.real), copy)


def write(module: AnsibleModule, change: Change, owner: Owner) -> str | None:
    """Temporary file with the final mode and owner, validated, then renamed into place, all
    in the directory held open (never through a symlink). Returns the backup made, if any."""
    assert change.data is not None
    directory = os.path.dirname(change.real)
    name = os.path.basename(change.real)
    dir_fd = open_dir(directory)
    if dir_fd is None:
        raise PlanError(f"{directory} does not exist: create it (or the home directory) first")
    try:
        current = None
        if change.exists:
            fd = open_file(dir_fd, name, change.path)
            if fd is not None:
                current = os.fstat(fd)
                os.close(fd)
        mode = (
            change.mode
            if change.mode is not None
            else (current.st_mode & 0o7777 if current else 0o644)
        )
        uid = owner.uid if owner.uid is not None else (current.st_uid if current else -1)
        gid = current.st_gid if current else (owner.gid if owner.gid is not None else -1)
        made = backup(change, dir_fd, name, current) if change.backup and current else None
        tmp, fd = new_file(dir_fd, f".{name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(change.data)
                handle.flush()
                give(fd, uid, gid, change.path)
                os.fchmod(fd, mode)
            if change.validate:
                command = change.validate.replace(
                    "%s", shlex.quote(fd_path(dir_fd, directory, tmp))
                )
                rc, out, err = module.run_command(command, use_unsafe_shell=True)
                if rc != 0:
                    raise PlanError(
                        f"{change.path} was not written: `{change.validate}` rejected it"
                        f" ({(err or out).strip()[:300]})"
                    )
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
        return made
    finally:
        os.close(dir_fd)


def make_dirs(change: Change, owner: Owner) -> None:
    """mkdir -p: missing parents get mode 0755, everything created gets the owner."""
    fd = open_dir(change.real, create=owner, mode=change.mode or 0o755)
    if fd is not None:
        os.close(fd)


def set_attributes(change: Change, will: dict[str, str], owner: Owner) -> None:
    """Mode and owner of an existing path, through a descriptor opened without following."""
    directory = open_dir(os.path.dirname(change.real))
    if directory is None:
        return
    try:
        fd = open_file(
            directory,
            os.path.basename(change.real),
            change.path,
            DIR_CHANGE_FLAGS if change.kind == "directory" else READ_FLAGS,
        )
    finally:
        os.close(directory)
    if fd is None:
        return
    try:
        if "owner" in will and owner.uid is not None:
            give(fd, owner.uid, -1, change.path)
        if "mode" in will and change.mode is not None:
            os.chmod(fd, change.mode)
    finally:
        os.close(fd)


def attributes(change: Change, owner: Owner) -> tuple[dict[str, str], dict[str, str]]:
    """(before, after) of the mode and owner an existing path must get."""
    if not change.exists:
        return {}, {}
    current = os.lstat(change.real)
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    if change.mode is not None and current.st_mode & 0o7777 != change.mode:
        before["mode"], after["mode"] = f"{current.st_mode & 0o7777:04o}", f"{change.mode:04o}"
    if owner.uid is not None and current.st_uid != owner.uid:
        before["owner"], after["owner"] = str(current.st_uid), str(owner.uid)
    return before, after


def shown(data: bytes | None, private: bool) -> str:
    if data is None:
        return ""
    return HIDDEN if private else data.decode("utf-8", "replace")


def apply(module: AnsibleModule, changes: list[Change], owner: Owner) -> dict[str, Any]:
    lines: list[str] = []
    diffs: list[dict[str, Any]] = []
    backups: list[str] = []
    for change in changes:
        was, will = attributes(change, owner)
        if change.kind == "directory" and not change.exists:
            lines.append(f"created {change.path}/")
            diffs.append(
                {
                    "before_header": change.path,
                    "after_header": change.path,
                    "before": {"path": change.path, "state": "absent"},
                    "after": {"path": change.path, "state": "directory"},
                }
            )
            if not module.check_mode:
                make_dirs(change, owner)
        if change.data is not None:
            verb = "updated" if change.exists else "created"
            lines.append(" ".join([verb, change.path, *change.notes]))
            diffs.append(
                {
                    "before_header": change.path,
                    "after_header": change.path,
                    "before": change.summary[0]
                    if change.summary
                    else shown(change.before, change.private),
                    "after": change.summary[1]
                    if change.summary
                    else HIDDEN_NEW
                    if change.private
                    else change.data.decode("utf-8", "replace"),
                }
            )
            if not module.check_mode:
                made = write(module, change, owner)
                if made:
                    backups.append(made)
        if will:
            lines.append(f"set {change.path} " + ", ".join(f"{k} {v}" for k, v in will.items()))
            diffs.append(
                {
                    "before_header": f"{change.path} (attributes)",
                    "after_header": f"{change.path} (attributes)",
                    "before": was,
                    "after": will,
                }
            )
            if not module.check_mode and change.data is None:
                set_attributes(change, will, owner)
    return {"changed": bool(lines), "changes": lines, "backups": backups, "diff": diffs}


def main() -> None:
    path_mode = {"path": {"type": "path", "required": True}}
    module = AnsibleModule(
        argument_spec={
            "owner": {"type": "str"},
            "home": {"type": "path"},
            "directories": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {**path_mode, "mode": {"type": "str", "default": "0755"}},
            },
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    **path_mode,
                    "content": {"type": "str", "required": True},
                    "mode": {"type": "str", "default": "0644"},
                    "validate": {"type": "str"},
                    "force": {"type": "bool", "default": True},
                },
            },
            "private_files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    **path_mode,
                    "content": {"type": "str", "required": True, "no_log": True},
                    "mode": {"type": "str", "default": "0600"},
                },
            },
            "blocks": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    **path_mode,
                    "block": {"type": "str", "required": True},
                    "marker": {"type": "str", "required": True},
                    "mode": {"type": "str", "default": "0644"},
                    "backup": {"type": "bool", "default": False},
                    "create": {
                        "type": "str",
                        "default": "always",
                        "choices": ["always", "never", "if_login_shell"],
                    },
                    "shell": {"type": "str"},
                },
            },
            "json": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    **path_mode,
                    "merge": {"type": "dict", "required": True},
                    "mode": {"type": "str", "default": "0600"},
                },
            },
        },
        supports_check_mode=True,
    )
    try:
        owner = resolve_owner(module.params["owner"], module.params["home"])
        result = apply(module, plan(module.params, owner), owner)
    except PlanError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"{exc.filename or 'a file'}: {exc.strerror}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
