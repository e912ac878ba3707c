"""The vibe proxy's master key is made once, atomically: a failed run leaves no master.key
(not an empty one that `creates:` would keep for ever), and no temporary file."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from tests.conftest import REPO

TASKS = REPO / "roles/workstation/tasks/vibe_proxy.yml"
NAME = "Vibe proxy | Make the master key once"


def task() -> dict:
    return next(t for t in yaml.safe_load(TASKS.read_text()) if t.get("name") == NAME)


def script(conf_dir: Path) -> str:
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - a shell script, not HTML
    env.filters["quote"] = lambda v: shlex.quote(str(v))
    cmd = task()["ansible.builtin.shell"]["cmd"]
    return env.from_string(cmd).render(__workstation_vibe_conf_dir=str(conf_dir))


def run(conf_dir: Path, path_dirs: list[Path]) -> subprocess.CompletedProcess[str]:
    path = ":".join([*map(str, path_dirs), "/usr/bin", "/bin"])
    return subprocess.run(
        ["/bin/sh", "-c", script(conf_dir)],
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_creates_guards_the_final_name() -> None:
    creates = task()["ansible.builtin.shell"]["creates"]
    assert creates == "{{ __workstation_vibe_conf_dir }}/master.key"


def test_makes_a_private_non_empty_key(tmp_path: Path) -> None:
    conf = tmp_path / "vibe proxy"  # a space: the paths are quoted
    conf.mkdir()
    proc = run(conf, [])
    assert proc.returncode == 0, proc.stderr
    key = (conf / "master.key").read_text().strip()
    assert key.startswith("sk-vibe-") and len(key) == len("sk-vibe-") + 48
    assert stat.S_IMODE((conf / "master.key").stat().st_mode) == 0o600
    assert os.listdir(conf) == ["master.key"]


@pytest.mark.parametrize(
    "python3",
    ["#!/bin/sh\nexit 1\n", "#!/bin/sh\nexit 0\n", "#!/bin/sh\nprintf sk-vibe-; kill -9 $$\n"],
    ids=["fails", "prints-nothing", "killed-mid-write"],
)
def test_a_failed_run_leaves_no_key_and_no_temporary_file(tmp_path: Path, python3: str) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").write_text(python3)
    (bindir / "python3").chmod(0o755)
    proc = run(conf, [bindir])
    assert proc.returncode != 0
    assert os.listdir(conf) == []
    # The next run (creates: sees no master.key) makes a good one.
    assert run(conf, []).returncode == 0
    assert (conf / "master.key").read_text().startswith("sk-vibe-")
