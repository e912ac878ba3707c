"""Return a gateway's usage lines since a time. Runs ON the gateway (sent over SSH by
`ccprov usage -i`, src/ccprov/fleet/usage.py, through fleet/ssh.py run_probe).

Standard library only, Python >= 3.7; reads only. Argument: one JSON object
{"dir": "/var/log/ccprov-usage", "since": "2026-11-23T00:00:00.000Z",
 "last_use_since": "2026-10-31T00:00:00.000Z"}. The files are the LiteLLM callback's daily
usage-YYYY-MM-DD.jsonl (roles/litellm_gateway/files/ccprov_usage.py): mode 0640, group
litellm_gateway_usage_group, so this runs as root or a member of that group. Run as root,
it first drops to that group's rights (euid nobody, egid the directory's group, no other
groups): a file the gateway's user planted there (a hard link to a root-only file) is then
as unreadable to it as to the group, and skipped.

Prints one JSON document: {"dir", "files", "lines", "bytes", "missing", "data", "last_use"}
(and "skipped": the names of usage files that are symlinks, not regular files, too large or
not readable by the group: never followed or read):
data is the lines at or after `since`, zlib-compressed and base64-encoded (a week of a busy
gateway's lines is tens of MB as text, a few as this); last_use is each developer's latest
request at or after `last_use_since` (default: since), so idle keys can be judged over 30 days
without sending 30 days of lines. A directory that does not exist (usage log off, or no
request yet) is not an error: "missing": true. One it cannot read is: exit 1 with the fix on
stderr.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import stat
import sys
import zlib
from typing import Any

_FILE = re.compile(r"^usage-(\d{4}-\d{2}-\d{2})\.jsonl$")
_DEVELOPER = re.compile(rb'"developer":"([A-Za-z0-9._:/@+-]{1,128})"')


def _line_ts(line: bytes) -> str:
    """The line's ts: the callback writes it first ({"ts":"..."}); anything else is parsed."""
    if line.startswith(b'{"ts":"'):
        end = line.find(b'"', 7)
        if end > 0:
            return line[7:end].decode("ascii", "replace")
    try:
        value = json.loads(line).get("ts")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def _line_developer(line: bytes) -> str:
    match = _DEVELOPER.search(line)
    if match:
        return match.group(1).decode("ascii", "replace")
    try:
        value = json.loads(line).get("developer")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


MAX_FILE_BYTES = 512 * 1024 * 1024
"""A day's file larger than this is skipped, not read (a busy gateway writes a few MB)."""


def _read_regular(path: str) -> bytes:
    """PATH's content if it is a regular file no larger than MAX_FILE_BYTES, and not a
    symlink. This runs as root in a directory the gateway's user owns: a planted symlink
    (to /etc/shadow) is not followed, and a FIFO does not hang it (O_NONBLOCK, then fstat)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if st.st_size > MAX_FILE_BYTES:
            raise OSError(errno.EFBIG, "larger than any day's usage", path)
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


NOBODY = 65534  # nobody and nogroup on Debian


def as_the_group(directory: str) -> None:
    """As root: keep only the rights of DIRECTORY's group (the usage group) from here on.
    Not root, or root's own directory (nobody else can plant there): nothing changes."""
    if os.geteuid() != 0:
        return
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):  # a symlink or a file: not the role's directory
        raise PermissionError(errno.EACCES, "not a directory", directory)
    if st.st_uid == 0 and st.st_gid == 0 and not st.st_mode & 0o022:
        return
    os.setgroups([])
    os.setegid(st.st_gid or NOBODY)
    os.seteuid(NOBODY)


def collect(directory: str, since: str, last_use_since: str = "") -> dict[str, Any]:
    """The lines of `directory` at or after `since`, and each developer's last request at or
    after `last_use_since` (ISO times in UTC, ...Z)."""
    last_use_since = min(last_use_since or since, since)
    found: dict[str, Any] = {"dir": directory, "files": 0, "lines": 0, "bytes": 0}
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return {**found, "missing": True, "data": "", "last_use": {}}
    last_use: dict[str, str] = {}
    chunks: list[bytes] = []
    for name in names:
        match = _FILE.match(name)
        if not match or match.group(1) < last_use_since[:10]:
            continue
        try:
            content = _read_regular(os.path.join(directory, name))
        except OSError as exc:
            skip = (errno.ELOOP, errno.EINVAL, errno.EMLINK, errno.EFBIG, errno.EACCES)
            if exc.errno not in skip:
                raise
            found.setdefault("skipped", []).append(name)
            continue
        found["files"] += 1
        for line in content.splitlines():
            if not line.strip():
                continue
            ts = _line_ts(line)
            if ts < last_use_since:
                continue
            developer = _line_developer(line)
            if developer and ts > last_use.get(developer, ""):
                last_use[developer] = ts
            # A line still being written may come cut short: it does not parse, and the
            # controller skips it.
            if ts >= since:
                chunks.append(line + b"\n")
    raw = b"".join(chunks)
    found.update(
        lines=len(chunks),
        bytes=len(raw),
        missing=False,
        data=base64.b64encode(zlib.compress(raw, 6)).decode("ascii"),
        last_use=last_use,
    )
    return found


def main(argv: list[str]) -> int:
    wanted = json.loads(argv[1]) if len(argv) > 1 else {}
    directory = str(wanted.get("dir") or "/var/log/ccprov-usage")
    since = str(wanted.get("since") or "")
    try:
        if os.path.lexists(directory):
            as_the_group(directory)
        report = collect(directory, since, str(wanted.get("last_use_since") or ""))
    except PermissionError as exc:
        try:
            import grp

            group = grp.getgrgid(os.stat(directory).st_gid).gr_name
        except (OSError, KeyError):
            group = "the usage group"
        print(
            f"cannot read {exc.filename or directory}: permission denied; connect as root, "
            f"as a member of group {group} (litellm_gateway_usage_group), or as a user "
            "allowed sudo -n",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"cannot read {exc.filename or directory}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
