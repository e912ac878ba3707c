"""The gateway runs with only the settings the role gives it: a stray .env file above its
install directory (LiteLLM's default mode loads the first one it finds walking up from its
own package) must not reach it. The session's gateway starts with one there
(tests/e2e/conftest.py, STRAY_DOTENV: a database URL that would stop it at start)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.e2e.conftest import DOTENV_AT_START, STRAY_DOTENV

pytestmark = pytest.mark.slow


def test_a_dotenv_above_the_install_does_not_reach_the_gateway(gateway) -> None:
    assert DOTENV_AT_START[gateway.url] == STRAY_DOTENV  # it started with the stray .env
    request = urllib.request.Request(
        gateway.url + "/v1/messages",
        data=json.dumps(
            {
                "model": "devstral",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": "Say OK"}],
            }
        ).encode(),
        headers={
            "Authorization": f"Bearer {gateway.master_key}",
            "content-type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert json.load(response)["type"] == "message"
