"""The workstation role for a fish user (issue #31 item 3), run by ansible-playbook against
this machine into a throwaway home that has ~/.config/fish: the conf.d file lands there, the
directory the developer made keeps its mode, and a --check run after it finds nothing to
change (the detection runs in check mode too)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from tests.role.test_workstation_role_local import changed, play


def test_fish_gets_its_conf_d_file_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fish_dir = home / ".config" / "fish"
    fish_dir.mkdir(parents=True)
    fish_dir.chmod(0o755)
    proc = play(tmp_path, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conf = fish_dir / "conf.d" / "ccprov.fish"
    text = conf.read_text()
    assert text.startswith("#\n# Ansible managed")
    for name in ("claude-switch", "cc", "cc-local", "cc-cloud", "cc-vibe"):
        assert re.search(rf"^function {name} ", text, re.M), name
    assert stat.S_IMODE(conf.stat().st_mode) == 0o644
    assert stat.S_IMODE(conf.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(fish_dir.stat().st_mode) == 0o755

    again = play(tmp_path, home, "--check", "--diff")
    assert again.returncode == 0, again.stdout + again.stderr
    assert changed(again) == 0, again.stdout
    assert re.search(r"Look for fish's config directory\] \*+\nok: ", again.stdout), again.stdout
