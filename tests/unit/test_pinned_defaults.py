"""The role defaults that name a pinned release hold the release its hash lock pins
(tests/support/pins.py), and nothing else restates it: the argument specs carry no default
for them, so a bump is the lock plus these defaults (issue #32)."""

from __future__ import annotations

import pytest
import yaml

from tests.support import pins
from tests.support.paths import REPO
from tests.support.pins import PINNED_DEFAULTS


def load(path: str) -> dict[str, object]:
    data = yaml.safe_load((REPO / path).read_text())
    assert isinstance(data, dict), path
    return data


@pytest.mark.parametrize(("role", "variable", "package"), PINNED_DEFAULTS)
def test_the_default_is_the_locked_release(role: str, variable: str, package: str) -> None:
    default = load(f"roles/{role}/defaults/main.yml")[variable]
    assert default == pins.version(package), (
        f"roles/{role}/defaults/main.yml {variable} is {default!r}, but the hash lock"
        f" {pins.lock_file(package).relative_to(REPO)} pins {pins.version(package)}"
    )


@pytest.mark.parametrize(("role", "variable", "package"), PINNED_DEFAULTS)
def test_the_argument_spec_does_not_restate_it(role: str, variable: str, package: str) -> None:
    specs = load(f"roles/{role}/meta/argument_specs.yml")["argument_specs"]
    option = specs["main"]["options"][variable]  # type: ignore[index]
    assert option["type"] == "str" and "default" not in option, (role, variable)
