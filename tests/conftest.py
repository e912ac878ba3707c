"""Shared pytest set-up: paths of the repository and its parts."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hostbed: needs the container test bed (tests/hostbed)")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
