"""The workstation role's filters (plugins/filter/workstation_home.py): the
lists its home_files calls take, built from the role's inputs. The role's shape (inputs,
task names, README) is checked with the other roles' in test_role_surfaces.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from tests.conftest import REPO, load_file

ROLE = REPO / "roles/workstation"
home = load_file("workstation_home", REPO / "plugins/filter/workstation_home.py")
H = "/home/dev"


def test_enabled_keeps_the_order_and_reads_string_flags() -> None:
    flags = {"vibe-orchestrator": "true", "cloud-escalator": False, "x": "no", "y": 1}
    assert home.workstation_enabled(flags) == ["vibe-orchestrator", "y"]


def test_home_dirs_of_a_plain_setup() -> None:
    assert home.workstation_home_dirs(H, ["vibe-orchestrator"], False) == [
        {"path": f"{H}/.local/bin", "mode": "0755"},
        {"path": f"{H}/.claude", "mode": "0700"},
        {"path": f"{H}/.claude/skills/vibe-orchestrator", "mode": "0755"},
    ]
    with_ca = home.workstation_home_dirs(H, [], "True")
    assert with_ca[-1] == {"path": f"{H}/.config/ccprov", "mode": "0700"}


def test_skill_files_pair_each_skill_with_its_template() -> None:
    skills = ["vibe-orchestrator", "cloud-escalator"]
    assert home.workstation_skill_templates(skills) == [
        "home/.claude/skills/vibe-orchestrator/SKILL.md.j2",
        "home/.claude/skills/cloud-escalator/SKILL.md.j2",
    ]
    for template in home.workstation_skill_templates(skills):
        assert (ROLE / "templates" / template).is_file()
    assert home.workstation_skill_files(skills, H, ["a", "b"]) == [
        {"path": f"{H}/.claude/skills/vibe-orchestrator/SKILL.md", "content": "a"},
        {"path": f"{H}/.claude/skills/cloud-escalator/SKILL.md", "content": "b"},
    ]
    with pytest.raises(AnsibleFilterError):
        home.workstation_skill_files(skills, H, ["a"])


def test_rc_blocks_detect_or_force_the_shells() -> None:
    marker = "# {mark} m"
    detected = home.workstation_rc_blocks(H, [], "B", marker, "yes")
    assert [(b["path"], b["shell"], b["create"]) for b in detected] == [
        (f"{H}/.bashrc", "bash", "if_login_shell"),
        (f"{H}/.zshrc", "zsh", "if_login_shell"),
    ]
    assert all(b["block"] == "B" and b["marker"] == marker and b["backup"] for b in detected)
    (zsh_only,) = home.workstation_rc_blocks(H, ["zsh"], "B", marker, False)
    assert zsh_only["path"] == f"{H}/.zshrc" and zsh_only["create"] == "always"
    assert zsh_only["backup"] is False


def test_claude_json_merges_only_what_is_asked() -> None:
    assert home.workstation_claude_json(H, {}, False) == []
    assert home.workstation_claude_json(H, {"A": "1"}, True) == [
        {"path": f"{H}/.claude/settings.json", "merge": {"env": {"A": "1"}}},
        {"path": f"{H}/.claude.json", "merge": {"hasCompletedOnboarding": True}},
    ]


def test_agent_home_writes_the_key_once_and_each_agents_files() -> None:
    key = f"{H}/.config/ccprov/gateway.key"
    bare = home.workstation_agent_home(H, key, "sk\n")
    assert bare["private_files"] == [{"path": key, "content": "sk\n"}]
    assert bare["files"] == [] and bare["json"] == []
    both = home.workstation_agent_home(
        H, key, "sk\n", {"lock": "{}", "config": {"model": "m"}}, {"env": "E", "config": "C"}
    )
    assert [d["path"] for d in both["directories"]] == [
        f"{H}/.config/ccprov",
        f"{H}/.config/opencode",
        f"{H}/.config/opencode/node_modules",
        f"{H}/.vibe",
    ]
    assert both["private_files"][1] == {"path": f"{H}/.vibe/.env", "content": "E"}
    lock = both["files"][0]
    assert lock["path"].endswith("/package-lock.json") and lock["force"] is False
    assert both["json"] == [
        {"path": f"{H}/.config/opencode/opencode.json", "merge": {"model": "m"}}
    ]


def test_unsafe_vars_names_only_the_bad_ones() -> None:
    names = ["a", "b", "c", "d"]
    values = ['sk-"x', "fine", 262144, "two\nlines"]
    assert home.workstation_unsafe_vars(names, values) == ["a", "d"]
    with pytest.raises(AnsibleFilterError):
        home.workstation_unsafe_vars(names, values[:2])


def test_ca_problem(tmp_path: Path) -> None:
    assert home.workstation_ca_problem("") == ""
    missing = tmp_path / "nope.pem"
    assert "does not exist on the controller" in home.workstation_ca_problem(str(missing))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("garbage\n")
    assert "holds no PEM certificate" in home.workstation_ca_problem(str(garbage))
    good = tmp_path / "ca.pem"
    good.write_text("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    assert home.workstation_ca_problem(str(good)) == ""
