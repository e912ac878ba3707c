"""The gateway runs with only the settings the role gives it: a stray .env file above its
install directory (LiteLLM's default mode loads the first one it finds walking up from its
own package) must not reach it."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.e2e.conftest import start_gateway

pytestmark = pytest.mark.slow


def test_a_dotenv_above_the_install_does_not_reach_the_gateway(
    litellm_venv, standin_vllm, tmp_path
) -> None:
    # A database URL there would switch LiteLLM to Postgres mode and stop it at start.
    dotenv = litellm_venv / ".env"
    dotenv.write_text("DATABASE_URL=postgresql://nobody:x@127.0.0.1:1/none\n")
    try:
        proc, gw = start_gateway(tmp_path, standin_vllm.url, standin_vllm.api_key)
    finally:
        dotenv.unlink()
    try:
        request = urllib.request.Request(
            gw.url + "/v1/messages",
            data=json.dumps(
                {
                    "model": "devstral",
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": "Say OK"}],
                }
            ).encode(),
            headers={
                "Authorization": f"Bearer {gw.master_key}",
                "content-type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            assert json.load(response)["type"] == "message"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
