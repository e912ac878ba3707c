#!/usr/bin/python
"""Lay out one account's home in a single module call.

Directories, whole files, managed blocks in the user's own files (blockinfile's format)
and key merges into JSON settings: everything one developer's setup writes. One call
instead of one per file is what makes `ccprov workstation` take seconds: every module call
costs a Python start on the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shlex
import tempfile
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
    renamed over the old one: never half-written, never briefly world-readable.
  - Managed blocks follow M(ansible.builtin.blockinfile) (C(insertafter=EOF)): every byte
    outside the markers is kept, symlinked rc files are followed, and the user's file keeps
    its mode.
options:
  owner:
    description: Account that owns what is created (its primary group too); existing
      files and directories get this owner if they have another.
    type: str
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
        description: Absolute path; a symlink is followed.
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
  home_files:
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


class PlanError(Exception):
    """A change that cannot be made; the message names the file and the fix."""


@dataclass
class Owner:
    uid: int | None = None
    gid: int | None = None
    shell: str = ""


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


def load_object(path: str) -> tuple[dict[str, Any] | None, str, str | None]:
    """Return (object, original text, error). A missing file is an empty object."""
    if not os.path.exists(path):
        return {}, "", None
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
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


def octal(mode: str, path: str) -> int:
    try:
        return int(str(mode), 8)
    except ValueError:
        raise PlanError(f"mode {mode!r} for {path} is not an octal mode like '0644'") from None


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise PlanError(f"{path} is a directory; move it aside and run again") from None


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
        if os.path.exists(path) and not os.path.isdir(path):
            raise PlanError(f"{path} exists and is not a directory; move it aside and run again")
        changes.append(
            Change(path, "directory", None, octal(entry["mode"], path), os.path.isdir(path))
        )
    for entry, private in [(e, False) for e in params["files"]] + [
        (e, True) for e in params["private_files"]
    ]:
        path = entry["path"]
        before = read(path)
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
            )
        )
    for entry in params["blocks"]:
        real = os.path.realpath(entry["path"])
        before = read(real)
        if before is None and not creates_rc(entry["create"], entry["shell"], owner.shell):
            continue
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
        data, text, error = load_object(path)
        if error or data is None:
            raise PlanError(error or f"{path} could not be read")
        keys = deep_merge(data, entry["merge"])
        after = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()
        exists = os.path.exists(path)
        change = Change(
            path,
            "file",
            after if keys or not exists else None,
            octal(entry["mode"], path),
            exists,
            text.encode() if exists else None,
        )
        if keys:
            change.notes.append("merged " + ", ".join(keys))
        changes.append(change)
    return changes


# --- applying -----------------------------------------------------------------------------


def resolve_owner(name: str | None) -> Owner:
    if not name:
        return Owner()
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PlanError(f"owner '{name}' is not an account on this host") from None
    return Owner(entry.pw_uid, entry.pw_gid, os.path.basename(entry.pw_shell))


def give(path: str, uid: int, gid: int, shown: str) -> None:
    """chown as root; as an ordinary user keep the file's group if it is not one of ours."""
    if (uid, gid) in ((-1, -1), (os.getuid(), os.getgid())):
        return
    if os.getuid() == 0:
        os.chown(path, uid, gid)
        return
    if uid not in (-1, os.getuid()):
        raise PlanError(f"{shown} belongs to uid {uid}: only root can write it for that owner")
    # A group we are not in: the file keeps our primary group.
    with contextlib.suppress(PermissionError):
        os.chown(path, -1, gid)


def write(module: AnsibleModule, change: Change, owner: Owner) -> None:
    """Temporary file with the final mode and owner, validated, then renamed into place."""
    assert change.data is not None
    current = os.stat(change.path) if change.exists else None
    mode = (
        change.mode if change.mode is not None else (current.st_mode & 0o7777 if current else 0o644)
    )
    uid = owner.uid if owner.uid is not None else (current.st_uid if current else -1)
    gid = current.st_gid if current else (owner.gid if owner.gid is not None else -1)
    directory = os.path.dirname(change.path)
    if not os.path.isdir(directory):
        raise PlanError(f"{directory} does not exist: create it (or the home directory) first")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(change.path)}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(change.data)
        os.chmod(tmp, mode)
        give(tmp, uid, gid, change.path)
        if change.validate:
            command = change.validate.replace("%s", shlex.quote(tmp))
            rc, out, err = module.run_command(command, use_unsafe_shell=True)
            if rc != 0:
                raise PlanError(
                    f"{change.path} was not written: `{change.validate}` rejected it"
                    f" ({(err or out).strip()[:300]})"
                )
        os.replace(tmp, change.path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def make_dirs(path: str, mode: int, owner: Owner) -> None:
    """mkdir -p: missing parents get mode 0755, everything created gets the owner."""
    parent = os.path.dirname(path)
    if parent and parent != path and not os.path.isdir(parent):
        make_dirs(parent, 0o755, owner)
    os.mkdir(path)
    os.chmod(path, mode)
    give(path, -1 if owner.uid is None else owner.uid, -1 if owner.gid is None else owner.gid, path)


def attributes(change: Change, owner: Owner) -> tuple[dict[str, str], dict[str, str]]:
    """(before, after) of the mode and owner an existing path must get."""
    if not change.exists:
        return {}, {}
    current = os.stat(change.path)
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
                make_dirs(change.path, change.mode or 0o755, owner)
        if change.data is not None:
            verb = "updated" if change.exists else "created"
            lines.append(" ".join([verb, change.path, *change.notes]))
            diffs.append(
                {
                    "before_header": change.path,
                    "after_header": change.path,
                    "before": shown(change.before, change.private),
                    "after": HIDDEN_NEW
                    if change.private
                    else change.data.decode("utf-8", "replace"),
                }
            )
            if not module.check_mode:
                if change.backup and change.exists:
                    backups.append(module.backup_local(change.path))
                write(module, change, owner)
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
                if "mode" in will and change.mode is not None:
                    os.chmod(change.path, change.mode)
                if "owner" in will and owner.uid is not None:
                    give(change.path, owner.uid, -1, change.path)
    return {"changed": bool(lines), "changes": lines, "backups": backups, "diff": diffs}


def main() -> None:
    path_mode = {"path": {"type": "path", "required": True}}
    module = AnsibleModule(
        argument_spec={
            "owner": {"type": "str"},
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
        owner = resolve_owner(module.params["owner"])
        result = apply(module, plan(module.params, owner), owner)
    except PlanError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"{exc.filename or 'a file'}: {exc.strerror}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
