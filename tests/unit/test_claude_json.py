"""The claude_json module's merge and its refusal to overwrite a broken file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REPO, load_file

claude_json = load_file("claude_json", REPO / "roles/workstation/library/claude_json.py")


def test_merge_keeps_user_keys_and_reports_changes() -> None:
    current = {"theme": "dark", "env": {"MY_VAR": "1", "DISABLE_TELEMETRY": "0"}}
    changed = claude_json.deep_merge(current, {"env": {"DISABLE_TELEMETRY": "1", "NEW": "x"}})
    assert current == {
        "theme": "dark",
        "env": {"MY_VAR": "1", "DISABLE_TELEMETRY": "1", "NEW": "x"},
    }
    assert sorted(changed) == ["env.DISABLE_TELEMETRY", "env.NEW"]


def test_merge_of_what_is_already_there_changes_nothing() -> None:
    current = {"hasCompletedOnboarding": True, "projects": {"/x": {"a": 1}}}
    assert claude_json.deep_merge(current, {"hasCompletedOnboarding": True}) == []


def test_merge_replaces_a_non_object_with_an_object() -> None:
    current = {"env": "oops"}
    assert claude_json.deep_merge(current, {"env": {"A": "1"}}) == ["env"]
    assert current == {"env": {"A": "1"}}


def test_missing_and_empty_files_are_empty_objects(tmp_path: Path) -> None:
    assert claude_json.load_object(str(tmp_path / "none.json"))[0] == {}
    empty = tmp_path / "empty.json"
    empty.write_text("\n")
    assert claude_json.load_object(str(empty))[0] == {}


def test_invalid_json_is_reported_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"env": {"A": "1",}}\n')
    data, text, error = claude_json.load_object(str(path))
    assert data is None
    assert error and "not valid JSON (line 1" in error and "left untouched" in error
    assert text == '{"env": {"A": "1",}}\n'


def test_a_json_array_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps([1, 2]))
    data, _, error = claude_json.load_object(str(path))
    assert data is None and error and "not an object" in error
