#!/usr/bin/python
"""Ansible module: refuse unsafe LiteLLM versions, locks and venvs (fail closed)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.litellm_guard import lock_problems, venv_problems, version_problem

DOCUMENTATION = r"""
---
module: litellm_guard
short_description: Supply-chain guard for LiteLLM installs
description:
  - C(check=version) refuses a requested version on the denylist or below the minimum.
  - C(check=lock) refuses a requirements lock that is not fully hash-pinned, pins another
    litellm than requested, or pins a denylisted one.
  - C(check=venv) refuses an installed venv whose litellm is not exactly the pin, or whose
    site-packages holds a .pth file outside the allowlist (how the 1.82.8 malware ran).
  - Never changes anything; fails with a message naming the fix.
options:
  check:
    description: What to check.
    type: str
    choices: [version, lock, venv]
    required: true
  version:
    description: The pinned litellm version.
    type: str
    required: true
  denylist:
    description: Versions that must never be installed.
    type: list
    elements: str
    default: ["1.82.7", "1.82.8"]
  minimum:
    description: The oldest acceptable version.
    type: str
    default: "1.82.9"
  lock_path:
    description: The requirements lock (check=lock), on the managed host.
    type: path
  venv:
    description: The venv (check=venv).
    type: path
  allowed_pth:
    description: Regular expressions of .pth file names allowed in the venv.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Refuse a compromised version before installing anything
  litellm_guard:
    check: version
    version: "{{ litellm_gateway_version }}"
    denylist: "{{ litellm_gateway_denylist }}"
"""

RETURN = r"""
problems:
  description: What is wrong (empty when the check passes).
  type: list
  returned: always
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "check": {"type": "str", "choices": ["version", "lock", "venv"], "required": True},
            "version": {"type": "str", "required": True},
            "denylist": {"type": "list", "elements": "str", "default": ["1.82.7", "1.82.8"]},
            "minimum": {"type": "str", "default": "1.82.9"},
            "lock_path": {"type": "path"},
            "venv": {"type": "path"},
            "allowed_pth": {"type": "list", "elements": "str", "default": []},
        },
        required_if=[("check", "lock", ["lock_path"]), ("check", "venv", ["venv"])],
        supports_check_mode=True,
    )
    p = module.params
    denylist = sorted({"1.82.7", "1.82.8", *p["denylist"]})
    problems: list[str] = []
    if p["check"] == "version":
        problem = version_problem(p["version"], denylist, p["minimum"])
        problems = [problem] if problem else []
    elif p["check"] == "lock":
        with open(p["lock_path"], encoding="utf-8") as handle:
            problems = lock_problems(handle.read(), p["version"], denylist)
    else:
        problems = venv_problems(p["venv"], p["version"], p["allowed_pth"])
    if problems:
        module.fail_json(msg="LiteLLM guard: " + " | ".join(problems), problems=problems)
    module.exit_json(changed=False, problems=[])


if __name__ == "__main__":
    main()
