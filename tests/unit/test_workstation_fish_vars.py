"""When the workstation role writes fish's conf.d file (issue #31 item 3), as vars/main.yml
decides it from what home.yml's `ls -dHp` found and the login shell: every case rendered by
Ansible in one run, each a task with its own variables (they outrank the role's vars)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support import role_templates

ROLE = role_templates.ROLES / "workstation"
HOME = "/home/dev"
FISH = f"{HOME}/.config/fish"
BASE = {
    "workstation_user": "dev",
    "workstation_home": HOME,
    "workstation_local_base_url": "https://gateway.test",
    "workstation_local_token": "sk-fish-vars-0123456789",
}
FOUND_BOTH = [f"{FISH}/", f"{FISH}/conf.d/"]
# name: (variables over BASE, writes conf.d/ccprov.fish, directories made with their modes)
CASES: dict[str, tuple[dict[str, Any], bool, dict[str, str]]] = {
    "no fish": ({}, False, {}),
    "config dir only": ({"found": [f"{FISH}/"]}, True, {f"{FISH}/conf.d": "0700"}),
    "conf.d too": ({"found": FOUND_BOTH}, True, {}),
    "a file named fish": ({"found": [FISH]}, False, {}),
    "login shell (getent)": (
        {"__workstation_passwd": ["x", "1001", "1001", "", HOME, "/usr/bin/fish"]},
        True,
        {FISH: "0700", f"{FISH}/conf.d": "0700"},
    ),
    "own login shell (facts)": (
        {
            "workstation_user": "",
            "ansible_facts": {
                "user_id": "dev",
                "user_uid": 1001,
                "user_dir": HOME,
                "user_shell": "/usr/local/bin/fish",
            },
        },
        True,
        {FISH: "0700", f"{FISH}/conf.d": "0700"},
    ),
    "login shell bash": (
        {"__workstation_passwd": ["x", "1001", "1001", "", HOME, "/bin/bash"]},
        False,
        {},
    ),
    "always": ({"workstation_fish": "always"}, True, {FISH: "0700", f"{FISH}/conf.d": "0700"}),
    "never": ({"workstation_fish": "never", "found": FOUND_BOTH}, False, {}),
    "no aliases": ({"workstation_aliases": False, "found": FOUND_BOTH}, False, {}),
}


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tasks = []
    for index, (variables, _, _) in enumerate(CASES.values()):
        task_vars = {**BASE, **{k: v for k, v in variables.items() if k != "found"}}
        task_vars["__workstation_fish_ls"] = {"stdout_lines": variables.get("found", [])}
        # debug runs on the controller: no module call per case.
        message = (
            f"case{index}="
            + "{{ {'dirs': __workstation_home_dirs, 'fish': __workstation_fish | bool} | to_json }}"
        )
        tasks.append({"ansible.builtin.debug": {"msg": message}, "vars": task_vars})
    play = {
        "name": "The fish decision",
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [str(ROLE / "defaults/main.yml"), str(ROLE / "vars/main.yml")],
        "vars": {"role_path": str(ROLE)},
        "tasks": tasks,
    }
    proc = role_templates.render(tmp_path_factory.mktemp("fish-vars"), [], extra_plays=[play])
    assert proc.returncode == 0, proc.stdout[-3000:]
    found = dict(re.findall(r'"msg": "case(\d+)=(.*)"', proc.stdout))
    return {name: json.loads(found[str(i)].replace('\\"', '"')) for i, name in enumerate(CASES)}


@pytest.mark.parametrize("case", list(CASES))
def test_fish_file_and_directories(decided, case: str) -> None:
    _, writes, made = CASES[case]
    assert decided[case]["fish"] is writes
    fish_dirs = {d["path"]: d["mode"] for d in decided[case]["dirs"] if "/fish" in d["path"]}
    assert fish_dirs == made
    # The other directories are there as before.
    assert {"path": f"{HOME}/.local/bin", "mode": "0755"} in decided[case]["dirs"]
