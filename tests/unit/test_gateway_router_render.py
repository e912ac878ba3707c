"""The gateway's router settings are numbers even when ops pass them on the command line
(`-e litellm_gateway_cooldown_seconds=31` gives Ansible a string). LiteLLM 1.106.2 adds
cooldown_time to a timestamp when it reads a cooldown (router_utils/cooldown_cache.py,
_corrected_active_cooldown): a string made every request a 500 while a backend was cooled
down (seen in the site e2e after its config-change event)."""

from __future__ import annotations

import yaml

from tests.support.gateway import render_gateway_config


def test_numbers_given_as_strings_render_as_numbers(tmp_path) -> None:
    config = yaml.safe_load(
        render_gateway_config(
            tmp_path,
            "http://gpu1.example:8000",
            {
                "litellm_gateway_backends": [
                    {"api_base": "http://gpu1.example:8000/v1"},
                    {"api_base": "http://gpu2.example:8000/v1"},
                ],
                # What `-e name=value` hands the role: strings.
                "litellm_gateway_cooldown_seconds": "31",
                "litellm_gateway_timeout": "700",
                "litellm_gateway_affinity_ttl": "1800",
            },
        ).read_text()
    )
    router = config["router_settings"]
    assert (router["cooldown_time"], router["timeout"]) == (31, 700)
    assert router["deployment_affinity_ttl_seconds"] == 1800
    assert config["litellm_settings"]["request_timeout"] == 700
    assert {d["litellm_params"]["timeout"] for d in config["model_list"]} == {700}
