"""LiteLLM supply-chain guard: one piece of code for every place ccprov checks LiteLLM.

Two PyPI litellm releases (the denylist in DEFAULT_POLICY, the only copy of it) shipped
credential-stealing malware; 1.82.8 ran it from a `litellm_init.pth` file at every
interpreter start. This module:
- judges a requested version against the denylist and a minimum (`version_problem`);
- audits a lock file (`lock_problems`) and an installed venv (`venv_problems`);
- scans a whole host for compromised installs and start-up code (`audit`).

Used by the litellm_guard Ansible module of the pinned_venv role (every venv ccprov
installs: LiteLLM for the gateway and the workstation's vibe proxy, vLLM; the version and
lock checks take any package, the built-in denylist and minimum are LiteLLM's) and, sent
over SSH to `python3 -`, by `ccprov audit`. Standard library only, Python >= 3.7.

How `audit` scans: every directory below the roots is walked, at any depth, without
following symbolic links and visiting each (st_dev, st_ino) once (bind mounts, nested
roots). Pseudo file systems (/proc, /sys, /dev and any proc/sysfs/cgroup/... mount below a
root) and `__pycache__` directories (only byte code, never an environment) are pruned;
nothing else is, node_modules and ~/.cache included. Every directory's entries are matched
against litellm metadata names (so `pip --target` dirs and uv's unpacked-wheel cache count);
directories named site-packages / dist-packages are also checked for .pth files and
sitecustomize / usercustomize; pyvenv.cfg marks an environment. Directories and files that
cannot be read are reported, never silently skipped.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from typing import Any

DEFAULT_ROOTS = [
    "/usr",
    "/usr/local",
    "/opt",
    "/srv",
    "/var/lib",
    "/home",
    "/root",
    "/tmp",  # noqa: S108 - scanned, not written: venvs are made there too
    "/var/tmp",  # noqa: S108
]

# .pth files that legitimately run code, and the only executable lines they may hold
# (a whole line, trailing white space ignored). Anything else in them is reported.
# Variable parts are restricted to identifier characters, so they cannot carry code.
_IDENT = r"[A-Za-z0-9_]+"
_DISTUTILS_PRECEDENCE = (
    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, '{}')"
    " == 'local'; enabled and __import__('_distutils_hack').add_shim();"
)
_NSPKG = (
    (
        r"import sys, types, os;has_mfs = sys\.version_info > \(3, 5\);"
        r"p = os\.path\.join\(sys\._getframe\(1\)\.f_locals\['sitedir'\], "
        r"\*\((?:'ID', )*'ID',?\)\);"
        r"importlib = has_mfs and __import__\('importlib\.util'\);"
        r"has_mfs and __import__\('importlib\.machinery'\);"
        r"m = has_mfs and sys\.modules\.setdefault\('DOTTED', importlib\.util\.module_from_spec\("
        r"importlib\.machinery\.PathFinder\.find_spec\('DOTTED', \[os\.path\.dirname\(p\)\]\)\)\);"
        r"m = m or sys\.modules\.setdefault\('DOTTED', types\.ModuleType\('DOTTED'\)\);"
        r"mp = \(m or \[\]\) and m\.__dict__\.setdefault\('__path__',\[\]\);"
        r"\(p not in mp\) and mp\.append\(p\)"
        r"(?:;m and setattr\(sys\.modules\['DOTTED'\], 'ID', m\))?"
    )
    .replace("DOTTED", r"[A-Za-z0-9_.]+")
    .replace("ID", _IDENT)
)
KNOWN_PTH: list[list[Any]] = [
    # setuptools >= 60 ('local') and 49-59 ('stdlib'), as shipped in its wheels.
    [
        r"^distutils-precedence\.pth$",
        [re.escape(_DISTUTILS_PRECEDENCE.format(v)) for v in ("local", "stdlib")],
    ],
    # virtualenv >= 20.
    [r"^_virtualenv\.pth$", [r"import _virtualenv"]],
    # setuptools editable installs (PEP 660).
    [
        r"^__editable__\..*\.pth$",
        [rf"import (__editable___{_IDENT}_finder); \1\.install\(\)"],
    ],
    # setuptools namespace packages (setuptools/namespaces.py, _nspkg_tmpl).
    [r"^.*-nspkg\.pth$", [_NSPKG]],
    # setuptools easy_install's sys.path rewrite (RewritePthDistributions).
    [
        r"^easy-install\.pth$",
        [
            re.escape("import sys; sys.__plen = len(sys.path)"),
            re.escape(
                "import sys; new = sys.path[sys.__plen:]; del sys.path[sys.__plen:];"
                " p = getattr(sys, '__egginsert', 0); sys.path[p:p] = new;"
                " sys.__egginsert = p + len(new)"
            ),
        ],
    ],
]

DEFAULT_POLICY: dict[str, Any] = {
    # The built-in denylist: litellm releases never installed and reported wherever found
    # (compromised on PyPI). Installs and inventories may add versions, never remove one.
    "denylist": ["1.82.7", "1.82.8"],
    "roots": DEFAULT_ROOTS,
    # Names of .pth files trusted whatever they hold (`ccprov audit --allow-pth`).
    "allowed_pth": [],
    "known_pth": KNOWN_PTH,
    # Always reported, wherever found: the 1.82.8 payload's file name.
    "known_bad_pth": [r"^litellm_init\.pth$"],
    "prune_names": ["__pycache__"],
    # At most this many unreadable paths are listed (all are counted).
    "max_unreadable": 200,
}

# The oldest litellm an install accepts unless asked for a later one (the first release
# after the compromised ones).
LITELLM_MINIMUM = "1.82.9"

SITE_DIR_NAMES = ("site-packages", "dist-packages")
# Pseudo file systems: never walked (by path when a root is /, by mount anywhere below).
SKIP_PATHS = ("/proc", "/sys", "/dev")
PSEUDO_FS = {
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "configfs",
    "fusectl",
    "bpf",
    "pstore",
    "mqueue",
    "hugetlbfs",
    "binfmt_misc",
    "efivarfs",
    "nsfs",
    "rpc_pipefs",
    "selinuxfs",
}
# litellm's installed metadata: NAME-VERSION[-pyX.Y[-PLATFORM]].(dist-info|egg-info|egg).
# The name part never holds "-" (wheel and egg names escape it to "_").
_META_RE = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-py\d+(?:\.\d+)*(?:-[^-]+)?)?"
    r"\.(?P<kind>dist-info|egg-info|egg)$",
    re.I,
)
_CUSTOMIZE = ("sitecustomize", "usercustomize")


def _canonical_name(name: str) -> str:
    """PEP 503 normalisation: runs of -, _ and . become -, lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _normal_version(version: str) -> str:
    """'1.82.8', 'v1.82.08', '1.82.8.0' -> '1.82.8' (PEP 440: leading zeros and trailing
    zero release segments do not make another version); anything after the release kept."""
    text = version.strip().lower()
    if text.startswith("v"):
        text = text[1:]
    match = re.match(r"^(\d+(?:\.\d+)*)(.*)$", text)
    if not match:
        return text
    release = [int(part) for part in match.group(1).split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    return ".".join(map(str, release)) + match.group(2)


def _pseudo_mounts() -> set[str]:
    mounts: set[str] = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                left, _sep, right = line.partition(" - ")
                fields = left.split(" ")
                if len(fields) > 4 and right.split(" ", 1)[0] in PSEUDO_FS:
                    mounts.add(
                        re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
                    )
    except OSError:
        pass
    return mounts


class Scan:
    """One walk of the roots; what it found and what it could not read."""

    def __init__(self, roots: list[str], prune_names: list[str]) -> None:
        self.roots = roots
        self.prune_names = set(prune_names)
        self.skip = set(SKIP_PATHS) | _pseudo_mounts()
        self.unreadable: list[dict[str, str]] = []

    def cannot_read(self, path: str, exc: OSError) -> None:
        self.unreadable.append({"path": path, "error": exc.strerror or type(exc).__name__})

    def directories(self) -> Iterator[tuple[str, list[str], list[str]]]:
        """(directory, sub-directory names, other entry names) for every directory."""
        seen: set[tuple[int, int]] = set()
        for root in self.roots:
            stack = [os.path.abspath(root)]
            top = True
            while stack:
                path = stack.pop()
                try:
                    # A root may be a symbolic link (/home -> /var/home); nothing below is.
                    info = os.stat(path) if top else os.lstat(path)
                except (FileNotFoundError, NotADirectoryError):
                    top = False
                    continue
                except OSError as exc:
                    self.cannot_read(path, exc)
                    top = False
                    continue
                top = False
                if not stat.S_ISDIR(info.st_mode):
                    continue
                key = (info.st_dev, info.st_ino)
                if key in seen or path in self.skip:
                    continue
                seen.add(key)
                dirs: list[str] = []
                others: list[str] = []
                try:
                    with os.scandir(path) as entries:
                        for entry in entries:
                            try:
                                is_dir = entry.is_dir(follow_symlinks=False)
                            except OSError:
                                is_dir = False
                            (dirs if is_dir else others).append(entry.name)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except OSError as exc:
                    self.cannot_read(path, exc)
                    continue
                dirs.sort()
                others.sort()
                yield path, dirs, others
                for name in reversed(dirs):
                    if name not in self.prune_names:
                        stack.append(os.path.join(path, name))


def find_site_dirs(roots: list[str], max_depth: int | None = None) -> list[str]:
    """Every site-packages / dist-packages directory below the roots (max_depth: unused,
    kept for callers of the old signature)."""
    scan = Scan(roots, DEFAULT_POLICY["prune_names"])
    return sorted(
        path
        for path, _dirs, _others in scan.directories()
        if os.path.basename(path) in SITE_DIR_NAMES
    )


def _read_version(path: str, kind: str, is_dir: bool) -> str | None:
    """The Version: header of an installed distribution's metadata, or None if absent."""
    if not is_dir:
        candidates = [path] if kind == "egg-info" else []
    elif kind == "dist-info":
        candidates = [os.path.join(path, "METADATA")]
    elif kind == "egg-info":
        candidates = [os.path.join(path, "PKG-INFO")]
    else:
        candidates = [os.path.join(path, "EGG-INFO", "PKG-INFO")]
    for candidate in candidates:
        try:
            with open(candidate, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        break
                    if line.lower().startswith("version:"):
                        return line.split(":", 1)[1].strip()
        except FileNotFoundError:
            continue
    return None


def litellm_entries(
    directory: str, names: list[str], dirs: set[str], package: str = "litellm"
) -> list[dict[str, Any]]:
    """A package's (litellm's) metadata among a directory's entries: [{path, version, versions}]."""
    found: list[dict[str, Any]] = []
    wanted = _canonical_name(package)
    for name in names:
        match = _META_RE.match(name)
        if not match or _canonical_name(match.group("name")) != wanted:
            continue
        path = os.path.join(directory, name)
        kind = match.group("kind").lower()
        versions = [match.group("version")]
        # An unreadable metadata file raises OSError: the caller reports it.
        metadata = _read_version(path, kind, name in dirs)
        if metadata and metadata not in versions:
            versions.append(metadata)
        found.append({"path": path, "version": metadata or versions[0], "versions": versions})
    return found


def litellm_versions(site_dir: str, package: str = "litellm") -> list[dict[str, str]]:
    try:
        with os.scandir(site_dir) as entries:
            listing = [(e.name, e.is_dir()) for e in entries]
    except OSError:
        return []
    names = sorted(name for name, _ in listing)
    dirs = {name for name, is_dir in listing if is_dir}
    try:
        found = litellm_entries(site_dir, names, dirs, package)
    except OSError:
        return []
    return [{"path": item["path"], "version": item["version"]} for item in found]


def pth_code_lines(data: bytes) -> list[str]:
    """The lines of a .pth file that Python executes at start-up.

    CPython's site.addpackage (Lib/site.py) executes a line when
    `line.startswith(("import ", "import\\t"))`, after skipping lines starting with "#".
    Python 3.11 reads the file in the locale encoding, one line per universal newline;
    3.13 decodes it as utf-8-sig (a leading BOM is dropped, so "\\ufeffimport x" runs)
    with a locale-encoding fallback and splits it with str.splitlines(). Taking the union
    of utf-8-sig and latin-1 decodings split with splitlines() (a superset of universal
    newlines) finds every line any of those versions would run.
    """
    texts = [data.decode("utf-8-sig", errors="replace")]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        texts.append(data.decode("latin-1"))
    code: list[str] = []
    for text in texts:
        for line in text.splitlines():
            if line.startswith(("import ", "import\t")) and line not in code:
                code.append(line)
    return code


def _finding(kind: str, severity: str, path: str, what: str) -> dict[str, str]:
    return {"kind": kind, "severity": severity, "path": path, "what": what}


MAX_PTH_BYTES = 1024 * 1024
"""A .pth larger than this is read only this far (real ones are a few lines)."""


def read_regular(path: str, limit: int) -> bytes:
    """PATH's first LIMIT bytes, if it is a regular file and not a symlink. The audit runs as
    root where any user may name files: a planted symlink is not followed (it could point at
    /etc/shadow) and a FIFO does not block the scan (O_NONBLOCK, then refused by fstat)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _check_pth(path: str, name: str, policy: dict[str, Any], scan: Scan) -> dict[str, str] | None:
    if any(re.match(p, name) for p in policy["allowed_pth"]):
        return None
    try:
        code = pth_code_lines(read_regular(path, MAX_PTH_BYTES))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EINVAL, errno.EMLINK):
            # Python's site module would follow it (or block on it) at every start.
            what = f"{name} is a symlink or not a regular file: not read, check it by hand"
            return _finding("pth-odd", "warning", path, what)
        scan.cannot_read(path, exc)
        return None
    known: list[str] = []
    for name_pattern, lines in policy["known_pth"]:
        if re.match(name_pattern, name):
            known += lines
    foreign = [ln for ln in code if not any(re.fullmatch(k, ln.rstrip()) for k in known)]
    if not foreign:
        return None
    line = foreign[0][:120]
    if known:
        what = f"{name} holds code that is not its known content, run at every start: {line}"
    else:
        what = f".pth runs code at every interpreter start: {line}"
    return _finding("pth-code", "warning", path, what)


def audit(policy: dict[str, Any]) -> dict[str, Any]:
    """Scan the policy's roots; findings as {kind, severity, path, what}.

    kinds: compromised-litellm and known-bad-pth (critical), pth-code and customize
    (warning). `unreadable` lists what could not be read: the scan is then partial.
    """
    policy = {**DEFAULT_POLICY, **policy}
    denied = {_normal_version(v) for v in policy["denylist"]}
    known_bad = [re.compile(p) for p in policy["known_bad_pth"]]
    scan = Scan(policy["roots"], policy["prune_names"])
    findings: list[dict[str, str]] = []
    installs: list[dict[str, str]] = []
    site_dirs = 0
    environments = 0
    for directory, dirs, others in scan.directories():
        names = sorted(dirs + others)
        environments += "pyvenv.cfg" in others
        try:
            entries = litellm_entries(directory, names, set(dirs))
        except OSError as exc:
            scan.cannot_read(directory, exc)
            entries = []
        for item in entries:
            installs.append({"path": item["path"], "version": item["version"]})
            bad = [v for v in item["versions"] if _normal_version(v) in denied]
            if bad:
                findings.append(
                    _finding(
                        "compromised-litellm",
                        "critical",
                        item["path"],
                        f"litellm {bad[0]} is a compromised release",
                    )
                )
        for name in others:
            if any(p.match(name) for p in known_bad):
                findings.append(
                    _finding(
                        "known-bad-pth",
                        "critical",
                        os.path.join(directory, name),
                        f"known malicious file {name} (litellm 1.82.8's payload)",
                    )
                )
        if os.path.basename(directory) not in SITE_DIR_NAMES:
            continue
        site_dirs += 1
        for name in names:
            path = os.path.join(directory, name)
            base = name.split(".", 1)[0]
            if base in _CUSTOMIZE and (name == base or name.startswith(base + ".")):
                findings.append(
                    _finding(
                        "customize",
                        "warning",
                        path,
                        f"{base} in a site directory runs at every interpreter start",
                    )
                )
            elif (
                name in others
                and name.lower().endswith(".pth")
                and not any(p.match(name) for p in known_bad)
            ):
                finding = _check_pth(path, name, policy, scan)
                if finding:
                    findings.append(finding)
    limit = int(policy["max_unreadable"])
    return {
        "roots": list(policy["roots"]),
        "euid": os.geteuid() if hasattr(os, "geteuid") else None,
        "site_dirs": site_dirs,
        "environments": environments,
        "litellm": installs,
        "findings": findings,
        "unreadable_count": len(scan.unreadable),
        "unreadable": scan.unreadable[:limit],
    }


def parse_version(text: str) -> tuple[int, ...]:
    """'1.82.8' -> (1, 82, 8); a suffix such as '.post1' or 'rc1' ends the comparison."""
    parts: list[int] = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group(0)))
        if digits.group(0) != piece:
            break
    return tuple(parts)


def _is_litellm(package: str) -> bool:
    return _canonical_name(package) == "litellm"


def denied_versions(package: str, extra: list[str]) -> list[str]:
    """The versions of `package` never installed: the built-in denylist (litellm's) plus
    `extra` (an install's or an inventory's own additions)."""
    builtin = DEFAULT_POLICY["denylist"] if _is_litellm(package) else []
    return sorted({*builtin, *extra})


def minimum_version(package: str, minimum: str) -> str:
    """The oldest acceptable version: `minimum` if given, else the built-in one (litellm's)."""
    return minimum or (LITELLM_MINIMUM if _is_litellm(package) else "")


def version_problem(
    version: str, denylist: list[str], minimum: str, package: str = "litellm", vetted: str = ""
) -> str | None:
    """Why `version` of `package` must not be installed, or None. `vetted`: a release the fix
    may name (pinned_venv passes the one its own lock pins; the lock's name is its one place)."""
    example = f", e.g. {vetted}" if vetted else ""
    if not re.match(r"^\d+(\.\d+)*([.-]?(post|rc|a|b|dev)\d*)?$", version or ""):
        return f"{package} version {version!r} is not an exact version; pin one{example}"
    denied = {_normal_version(v) for v in denylist}
    if _normal_version(version) in denied:
        if _is_litellm(package):
            return (
                f"litellm {version} is denylisted: PyPI releases"
                f" {' and '.join(DEFAULT_POLICY['denylist'])} shipped credential-stealing"
                " malware (and the denylist names this one). Pin a vetted release"
                + (f" such as {vetted}." if vetted else ".")
            )
        return f"{package} {version} is denylisted; pin another release."
    if minimum and parse_version(version) < parse_version(minimum):
        return f"{package} {version} is older than the minimum {minimum}; pin {minimum} or newer."
    return None


def lock_problems(
    text: str, version: str, denylist: list[str], package: str = "litellm"
) -> list[str]:
    """A hash-locked requirements file: every requirement pinned with hashes, `package` at
    the pin, nothing denylisted (and never a denylisted litellm, whatever the package)."""
    problems: list[str] = []
    requirements = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)([^\n]*)", text, re.M)
    if not requirements:
        problems.append("the lock file pins no requirement")
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-\[\]]+==)", text)
    for block in blocks:
        head = block.strip().splitlines()[0] if block.strip() else ""
        if "==" in head and not head.startswith("#") and "--hash=sha256:" not in block:
            problems.append(f"requirement {head.split()[0]} has no --hash")
    pins = {_canonical_name(name.split("[")[0]): ver for name, ver, _ in requirements}
    wanted = _canonical_name(package)
    if pins.get(wanted) != version:
        problems.append(
            f"the lock file pins {package} {pins.get(wanted, 'nothing')}, not {version}"
        )
    denied = {
        wanted: {_normal_version(v) for v in denylist},
        "litellm": {_normal_version(v) for v in denied_versions("litellm", [])},
    }
    if _is_litellm(package):
        denied["litellm"] |= denied[wanted]
    for name, ver in pins.items():
        if _normal_version(ver) in denied.get(name, set()):
            problems.append(f"the lock file pins denylisted {name} {ver}")
    return problems


def venv_problems(
    venv: str, version: str, allowed_pth: list[str], package: str = "litellm"
) -> list[str]:
    """An installed venv: `package` at exactly the pin, no .pth file outside the allowlist."""
    problems: list[str] = []
    site_dirs = sorted(
        {
            os.path.realpath(path)
            for pattern in ("lib*/*/site-packages", "Lib/site-packages")
            for path in glob.glob(os.path.join(glob.escape(venv), pattern))
        }
    )
    if not site_dirs:
        return [f"{venv} has no site-packages: is it a venv?"]
    allowed = [re.compile(p) for p in allowed_pth]
    installed: list[str] = []
    for site_dir in site_dirs:
        installed += [item["version"] for item in litellm_versions(site_dir, package)]
        for name in sorted(os.listdir(site_dir)):
            if name.endswith(".pth") and not any(p.match(name) for p in allowed):
                problems.append(
                    f"unexpected {name} in {site_dir}: .pth files run at every interpreter"
                    " start (the 1.82.8 malware did this); remove the venv and reinstall"
                )
    if installed != [version]:
        found = ", ".join(installed) or "missing"
        problems.append(f"installed {package} is {found}, expected exactly {version}")
    return problems


def main(argv: list[str]) -> int:
    policy = dict(DEFAULT_POLICY)
    if len(argv) > 1:
        policy.update(json.loads(argv[1]))
    json.dump(audit(policy), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
