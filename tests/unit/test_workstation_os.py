"""The workstation role on each OS family (issue #31 item 2), the parts that need no
Ansible run: the support table against the role's metadata, the OS filters
(plugins/filter/workstation_os.py), the macOS bash login file, the uv lock's wheels. The
preflight itself runs in test_workstation_portable.py (one Ansible run for both)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import REPO, load_file
from tests.support import pins

ROLE = REPO / "roles/workstation"
os_filters = load_file("workstation_os", REPO / "plugins/filter/workstation_os.py")
home = load_file("workstation_home", REPO / "plugins/filter/workstation_home.py")


def test_the_support_table_matches_the_role_metadata() -> None:
    support = yaml.safe_load((ROLE / "vars/main.yml").read_text())["__workstation_os_support"]
    platforms = yaml.safe_load((ROLE / "meta/main.yml").read_text())["galaxy_info"]["platforms"]
    names = {"MacOSX": "macOS"}
    assert {names.get(k, k) for k in support} == {p["name"] for p in platforms}
    for family in ("Debian", "Darwin"):
        family_vars = yaml.safe_load((ROLE / f"vars/{family}.yml").read_text())
        assert family_vars["__workstation_os_service"] in ("systemd", "launchd")
        assert all(name.startswith("__workstation_os_") for name in family_vars)


def test_dscl_output_becomes_a_passwd_entry() -> None:
    out = "NFSHomeDirectory: /Users/dev\nUniqueID: 501\n"
    assert os_filters.workstation_dscl_entry(out) == ["x", "501", "", "", "/Users/dev"]
    # A value with a space comes on the next line, indented by one space.
    spaced = "NFSHomeDirectory:\n /Users/Dev Team\nUniqueID: 502\n"
    assert os_filters.workstation_dscl_entry(spaced) == ["x", "502", "", "", "/Users/Dev Team"]
    assert os_filters.workstation_dscl_entry("UniqueID: 501\n") == []
    assert os_filters.workstation_dscl_entry("") == []


def test_the_login_bash_file_is_the_one_bash_reads() -> None:
    assert (
        os_filters.workstation_bash_login(["/Users/dev/.bash_login", "/Users/dev/.bash_profile"])
        == ".bash_profile"
    )
    assert os_filters.workstation_bash_login(["/Users/dev/.bash_login"]) == ".bash_login"
    assert os_filters.workstation_bash_login([]) == ".profile"


def test_macos_bash_gets_the_block_in_its_login_file_too() -> None:
    blocks = home.workstation_rc_blocks(
        "/Users/dev", [], "BLOCK", "# {mark}", True, ".bash_profile"
    )
    assert [(b["path"], b["shell"], b["create"]) for b in blocks] == [
        ("/Users/dev/.bashrc", "bash", "if_login_shell"),
        ("/Users/dev/.zshrc", "zsh", "if_login_shell"),
        ("/Users/dev/.bash_profile", "bash", "if_login_shell"),
    ]
    zsh_only = home.workstation_rc_blocks(
        "/Users/dev", ["zsh"], "BLOCK", "# {mark}", True, ".profile"
    )
    assert [b["path"] for b in zsh_only] == ["/Users/dev/.zshrc"]
    linux = home.workstation_rc_blocks("/home/dev", ["bash"], "BLOCK", "# {mark}", True)
    assert [b["path"] for b in linux] == ["/home/dev/.bashrc"]


def test_npm_cpu_names() -> None:
    assert [os_filters.workstation_npm_cpu(a) for a in ("x86_64", "aarch64", "arm64", "i386")] == [
        "x64", "arm64", "arm64", "",
    ]  # fmt: skip


def test_the_uv_lock_has_a_wheel_hash_for_each_cpu_it_is_used_on() -> None:
    """pinned_venv bootstraps uv by `uname -m` (Linux x86_64, aarch64; macOS x86_64, arm64):
    four wheels, four hashes (the lock's header says how they were read)."""
    lock = (REPO / "roles/pinned_venv/files/requirements/uv-0.13.9.txt").read_text()
    arches = yaml.safe_load((REPO / "roles/pinned_venv/vars/main.yml").read_text())[
        "__pinned_venv_uv_arches"
    ]
    assert set(arches) == {"x86_64", "aarch64", "arm64"}
    assert lock.count("--hash=sha256:") == 4
    for platform in (
        "manylinux2014_x86_64",
        "manylinux2014_aarch64",
        "macosx_10_12_x86_64",
        "macosx_11_0_arm64",
    ):
        assert platform in lock


def test_a_lock_without_wheels_for_the_cpu_is_refused_in_one_line(tmp_path: Path) -> None:
    """The gap is the lock's: a lock that pins a requirement with arm64-only wheels (any
    spelling of its name) is refused on an Intel Mac, whatever release it is the lock of."""
    lock = tmp_path / "lock.txt"
    lock.write_text("Cryptography==50.0.2 \\\n    --hash=sha256:aa\nidna==3.20 \\\n")
    other = tmp_path / "other.txt"
    other.write_text("cryptography==51.0.0 \\\n    --hash=sha256:bb\n")
    gaps = {"cryptography==50.0.2": ["arm64"], "idna==3.20": ["arm64", "x86_64"]}
    refuse = os_filters.workstation_lock_refusal
    args = ("macOS", "x86_64", "the vibe proxy", "--vibe")
    assert refuse("litellm", "9.1.0", str(lock), gaps, *args) == (
        "The vibe proxy needs litellm 9.1.0, whose hash lock has no macOS wheels of every"
        " package for x86_64 (only arm64): leave --vibe out on this machine, or pin a litellm"
        " release whose lock has them."
    )
    assert refuse("litellm", "9.1.0", str(lock), gaps, "macOS", "arm64", "x", "--vibe") == ""
    assert refuse("litellm", "9.2.0", str(other), gaps, *args) == ""  # no known gap
    assert refuse("litellm", "9.1.0", str(lock), {}, *args) == ""  # Debian's: none
    assert refuse("litellm", "9.1.0", str(tmp_path / "none"), gaps, *args) == ""


def test_each_macos_gap_is_in_a_lock_the_role_installs() -> None:
    """A gap no lock pins any more (after a bump) is stale: check the new lock's packages
    again (the command is in vars/Darwin.yml) and drop or replace the entry."""
    gaps = yaml.safe_load((ROLE / "vars/Darwin.yml").read_text())["__workstation_os_lock_cpus"]
    locks = [pins.lock_file("litellm"), *(ROLE / "files/requirements").glob("*.txt")]
    pinned = {line.split(" ")[0].lower() for lock in locks for line in lock.read_text().split("\n")}
    assert gaps and set(gaps) <= pinned
