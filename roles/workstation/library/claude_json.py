#!/usr/bin/python
"""Merge keys into a Claude Code JSON file (settings.json, .claude.json), keeping the rest."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: claude_json
short_description: Merge keys into a Claude Code JSON settings file
description:
  - Deep-merges O(merge) into the JSON object stored at O(path), keeping every key the
    user already has that O(merge) does not name. Creates the file if it is missing.
  - A file that is not a JSON object is reported and left untouched, never overwritten.
  - The file is replaced atomically, so a failure never leaves it half-written.
options:
  path:
    description: The JSON file.
    type: path
    required: true
  merge:
    description: Keys to set. Nested objects are merged key by key.
    type: dict
    required: true
extends_documentation_fragment: [files]
"""

EXAMPLES = r"""
- name: Turn telemetry off for every Claude Code session
  claude_json:
    path: ~/.claude/settings.json
    merge:
      env:
        DISABLE_TELEMETRY: "1"
    mode: "0600"
"""

RETURN = r"""
merged:
  description: The keys that changed, as dotted paths.
  type: list
  returned: always
"""


def deep_merge(current: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """Merge ``wanted`` into ``current`` in place; return the dotted keys that changed."""
    changed: list[str] = []
    for key, value in wanted.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            changed += deep_merge(current[key], value, dotted + ".")
        elif current.get(key, object()) != value:
            current[key] = value
            changed.append(dotted)
    return changed


def load_object(path: str) -> tuple[dict[str, Any] | None, str, str | None]:
    """Return (object, original text, error). A missing file is an empty object."""
    if not os.path.exists(path):
        return {}, "", None
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if not text.strip():
        return {}, text, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return (
            None,
            text,
            (
                f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                "fix it or move it aside, then run again. It was left untouched."
            ),
        )
    if not isinstance(data, dict):
        return (
            None,
            text,
            f"{path} holds a JSON {type(data).__name__}, not an object;"
            " fix it or move it aside. It was left untouched.",
        )
    return data, text, None


def write_atomic(module: AnsibleModule, path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ccprov-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "merge": {"type": "dict", "required": True},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    data, before_text, error = load_object(path)
    if error or data is None:
        module.fail_json(msg=error or f"{path} could not be read")
        return
    changed_keys = deep_merge(data, module.params["merge"])
    after_text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    result: dict[str, Any] = {"changed": bool(changed_keys), "merged": changed_keys, "path": path}
    if changed_keys:
        result["diff"] = {
            "before": before_text,
            "after": after_text,
            "before_header": path,
            "after_header": path,
        }
        if not module.check_mode:
            write_atomic(module, path, after_text)
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
