#!/usr/bin/python
"""Ansible module: refuse unsafe pins, locks and venvs (fail closed)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccprov.stack.plugins.module_utils.litellm_guard import (
    denied_versions,
    lock_problems,
    minimum_version,
    venv_problems,
    version_problem,
)

DOCUMENTATION = r"""
---
module: litellm_guard
short_description: Supply-chain guard for pinned Python installs (LiteLLM first)
description:
  - C(check=version) refuses a requested version on the denylist or below the minimum.
  - C(check=lock) refuses a requirements lock that is not fully hash-pinned, pins another
    version of the package than requested, or pins a denylisted one (or a denylisted
    litellm, whatever the package).
  - C(check=venv) refuses an installed venv whose package is not exactly the pin, or whose
    site-packages holds a .pth file outside the allowlist (how the 1.82.8 malware ran).
  - The built-in denylist and minimum are LiteLLM's, kept in the guard's policy
    (module_utils/litellm_guard.py, DEFAULT_POLICY); they apply when I(package) is litellm.
  - Never changes anything; fails with a message naming the fix.
options:
  check:
    description: What to check.
    type: str
    choices: [version, lock, venv]
    required: true
  package:
    description: The distribution the pin is for.
    type: str
    default: litellm
  version:
    description: The pinned version.
    type: str
    required: true
  denylist:
    description: Extra versions never installed, on top of the guard's built-in denylist.
    type: list
    elements: str
    default: []
  minimum:
    description: The oldest acceptable version; empty for the built-in one (litellm's, else none).
    type: str
    default: ""
  vetted:
    description: A release a refusal names as the fix (check=version); empty names none.
    type: str
    default: ""
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
    package: litellm
    version: "{{ pinned_venv_version }}"
    denylist: "{{ pinned_venv_denylist }}"
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
            "package": {"type": "str", "default": "litellm"},
            "version": {"type": "str", "required": True},
            "denylist": {"type": "list", "elements": "str", "default": []},
            "minimum": {"type": "str", "default": ""},
            "vetted": {"type": "str", "default": ""},
            "lock_path": {"type": "path"},
            "venv": {"type": "path"},
            "allowed_pth": {"type": "list", "elements": "str", "default": []},
        },
        required_if=[("check", "lock", ["lock_path"]), ("check", "venv", ["venv"])],
        supports_check_mode=True,
    )
    p = module.params
    package = p["package"]
    denylist = denied_versions(package, p["denylist"])
    problems: list[str] = []
    if p["check"] == "version":
        problem = version_problem(
            p["version"], denylist, minimum_version(package, p["minimum"]), package, p["vetted"]
        )
        problems = [problem] if problem else []
    elif p["check"] == "lock":
        with open(p["lock_path"], encoding="utf-8") as handle:
            problems = lock_problems(handle.read(), p["version"], denylist, package)
    else:
        problems = venv_problems(p["venv"], p["version"], p["allowed_pth"], package)
    if problems:
        module.fail_json(msg="Supply-chain guard: " + " | ".join(problems), problems=problems)
    module.exit_json(changed=False, problems=[])


if __name__ == "__main__":
    main()
