"""The gateway config: N backends become N deployments of one model, with no secrets."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from tests.conftest import REPO, load_file

litellm_config = load_file("litellm_config", REPO / "plugins/filter/litellm_config.py")
CHECK = REPO / "roles/litellm_gateway/files/check-config.py"


def test_n_backends_become_n_deployments_of_one_model() -> None:
    backends = [{"api_base": f"http://gpu{i}:8000/v1/"} for i in range(1, 4)]
    deployments = litellm_config.litellm_deployments(
        backends, "devstral", "hosted_vllm/devstral", 600
    )
    assert len(deployments) == 3
    assert {d["model_name"] for d in deployments} == {"devstral"}
    assert [d["litellm_params"]["api_base"] for d in deployments] == [
        "http://gpu1:8000/v1",
        "http://gpu2:8000/v1",
        "http://gpu3:8000/v1",
    ]
    assert [d["litellm_params"]["api_key"] for d in deployments] == [
        f"os.environ/LITELLM_BACKEND_KEY_{i}" for i in (1, 2, 3)
    ]
    assert len({d["model_info"]["id"] for d in deployments}) == 3


def test_per_backend_timeout_and_keys() -> None:
    backends = [
        {"api_base": "http://a:8000/v1", "timeout": 30, "api_key": "k-a"},
        {"api_base": "http://b:8000/v1"},
    ]
    deployments = litellm_config.litellm_deployments(backends, "m", "hosted_vllm/m", 600)
    assert deployments[0]["litellm_params"]["timeout"] == 30
    assert deployments[1]["litellm_params"]["stream_timeout"] == 600
    env = litellm_config.litellm_backend_env(backends, "default-key")
    assert env == {"LITELLM_BACKEND_KEY_1": "k-a", "LITELLM_BACKEND_KEY_2": "default-key"}


def test_stream_timeout_bounds_a_silent_backend() -> None:
    """litellm_gateway_stream_timeout (issue #29) becomes each deployment's stream_timeout
    (LiteLLM 1.106.2 router.py _get_stream_timeout: litellm_params before the router's),
    the read timeout of a streamed turn; a backend's own value wins; 0 keeps the timeout."""
    backends = [
        {"api_base": "http://a:8000/v1", "stream_timeout": 45},
        {"api_base": "http://b:8000/v1"},
    ]
    deployments = litellm_config.litellm_deployments(
        backends, "m", "hosted_vllm/m", 600, stream_timeout=90
    )
    assert [d["litellm_params"]["stream_timeout"] for d in deployments] == [45, 90]
    assert [d["litellm_params"]["timeout"] for d in deployments] == [600, 600]
    unset = litellm_config.litellm_deployments(backends[1:], "m", "hosted_vllm/m", 600)
    assert unset[0]["litellm_params"]["stream_timeout"] == 600


def test_stream_idle_limit_is_model_info_for_the_failover_callback() -> None:
    """litellm_gateway_stream_idle_timeout becomes model_info.ccprov_stream_idle_timeout,
    which files/ccprov_failover.py reads (never a litellm_params key: those reach the
    provider); a backend's own value wins, its 0 included; 0 writes nothing."""
    backends = [
        {"api_base": "http://a:8000/v1", "stream_idle_timeout": 9},
        {"api_base": "http://b:8000/v1", "stream_idle_timeout": 0},
        {"api_base": "http://c:8000/v1"},
    ]
    deployments = litellm_config.litellm_deployments(
        backends, "m", "hosted_vllm/m", 600, stream_timeout=90, stream_idle_timeout=4
    )
    limits = [d["model_info"].get("ccprov_stream_idle_timeout") for d in deployments]
    assert limits == [9, None, 4]
    assert all("stream_idle_timeout" not in d["litellm_params"] for d in deployments)
    unset = litellm_config.litellm_deployments(backends[2:], "m", "hosted_vllm/m", 600)
    assert "ccprov_stream_idle_timeout" not in unset[0]["model_info"]


@pytest.mark.parametrize("bad", [[{"api_base": "gpu1:8000"}], [{"api_base": "http://a/v1"}] * 2])
def test_bad_backends_are_refused(bad) -> None:
    with pytest.raises(AnsibleFilterError):
        litellm_config.litellm_deployments(bad, "m", "hosted_vllm/m", 600)


def test_route_messages_opts_into_vllms_own_anthropic_endpoint() -> None:
    backends = [{"api_base": "http://gpu1:8000/v1"}, {"api_base": "http://gpu2:8000/v1"}]
    native = litellm_config.litellm_deployments(
        backends, "devstral", "hosted_vllm/devstral", 600, "messages"
    )
    for deployment in native:
        assert deployment["model_info"]["supported_endpoints"] == [
            "/v1/chat/completions",
            "/v1/messages",
        ]
        # LiteLLM strips a trailing /v1 before appending /v1/messages; chat completions
        # (OpenAI clients) keep using the same api_base.
        assert deployment["litellm_params"]["api_base"].endswith(":8000/v1")
        assert deployment["litellm_params"]["model"] == "hosted_vllm/devstral"
    translated = litellm_config.litellm_deployments(
        backends, "devstral", "hosted_vllm/devstral", 600, "chat_completions"
    )
    assert all("supported_endpoints" not in d["model_info"] for d in translated)
    # The default (no route given) is the translation, as before the input existed.
    assert litellm_config.litellm_deployments(backends, "m", "hosted_vllm/m", 600) == [
        {
            **d,
            "model_name": "m",
            "litellm_params": {**d["litellm_params"], "model": "hosted_vllm/m"},
        }
        for d in translated
    ]


def test_a_backends_own_route_wins() -> None:
    """A server without an Anthropic endpoint among vLLM hosts: LiteLLM reads the opt-in
    per deployment (llms/anthropic/pass_through/messages/handler.py:90-100)."""
    backends = [
        {"api_base": "http://gpu1:8000/v1"},
        {"api_base": "http://gpu2:30000/v1", "route": "chat_completions"},
    ]
    vllm, other = litellm_config.litellm_deployments(
        backends, "m", "hosted_vllm/m", 600, "messages"
    )
    assert "/v1/messages" in vllm["model_info"]["supported_endpoints"]
    assert "supported_endpoints" not in other["model_info"]
    with pytest.raises(AnsibleFilterError, match=r"backends\[0\]\.route must be one of"):
        litellm_config.litellm_deployments([{"api_base": "http://a/v1", "route": "x"}], "m", "m", 9)


def test_drop_params_go_into_every_deployment() -> None:
    """LiteLLM 1.106.2 ignores litellm_settings.additional_drop_params: the list must be
    set per deployment, on both routes."""
    drops = ["reasoning_effort", "prompt_cache_key", "thinking", "output_config.effort"]
    for route in ("messages", "chat_completions"):
        deployments = litellm_config.litellm_deployments(
            [{"api_base": "http://a:8000/v1"}, {"api_base": "http://b:8000/v1"}],
            "m",
            "hosted_vllm/m",
            600,
            route,
            drops,
        )
        assert [d["litellm_params"]["additional_drop_params"] for d in deployments] == [drops] * 2
        assert deployments[0]["litellm_params"]["additional_drop_params"] is not drops
    none = litellm_config.litellm_deployments(
        [{"api_base": "http://a/v1"}], "m", "x", 6, "messages"
    )
    assert "additional_drop_params" not in none[0]["litellm_params"]


@pytest.mark.parametrize(
    ("route", "drops", "message"),
    [
        (
            "anthropic",
            [],
            "litellm_gateway_backend_route must be one of messages, chat_completions",
        ),
        ("messages", ["thinking", ""], "must be a list of names"),
        ("messages", [{"thinking": 1}], "must be a list of names"),
    ],
)
def test_bad_route_or_drop_list_is_refused(route, drops, message) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        litellm_config.litellm_deployments(
            [{"api_base": "http://a:8000/v1"}], "m", "hosted_vllm/m", 600, route, drops
        )


def test_role_defaults_route_and_drop_list() -> None:
    defaults = yaml.safe_load((REPO / "roles/litellm_gateway/defaults/main.yml").read_text())
    specs = yaml.safe_load((REPO / "roles/litellm_gateway/meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert defaults["litellm_gateway_backend_route"] == "messages"
    assert options["litellm_gateway_backend_route"]["default"] == "messages"
    assert set(options["litellm_gateway_backend_route"]["choices"]) == set(litellm_config.ROUTES)
    drops = defaults["litellm_gateway_additional_drop_params"]
    assert options["litellm_gateway_additional_drop_params"]["default"] == drops
    assert {"reasoning_effort", "prompt_cache_key", "thinking", "output_config.effort"} <= set(
        drops
    )
    # Not in litellm_settings, where LiteLLM ignores it.
    vars_text = (REPO / "roles/litellm_gateway/vars/main.yml").read_text()
    assert "additional_drop_params:" not in vars_text


def run_check(tmp_path, config) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return subprocess.run([sys.executable, str(CHECK), str(path)], capture_output=True, text=True)


def test_config_check_accepts_the_rendered_shape(tmp_path) -> None:
    deployments = litellm_config.litellm_deployments(
        [{"api_base": "http://gpu1:8000/v1"}], "devstral", "hosted_vllm/devstral", 600
    )
    config = {
        "model_list": deployments,
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    assert run_check(tmp_path, config).returncode == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("model_list: [", "not valid YAML"),
        ({"model_list": []}, "model_list is empty"),
        ({"model_list": [{"model_name": "x", "litellm_params": {}}]}, "no litellm_params.model"),
        (
            {
                "model_list": [
                    {"model_name": "x", "litellm_params": {"model": "m", "api_key": "sk-plain"}}
                ]
            },
            "plain api_key",
        ),
        (
            {
                "model_list": [{"model_name": "x", "litellm_params": {"model": "m"}}],
                "general_settings": {"master_key": "sk-plain"},
            },
            "master_key is plain text",
        ),
    ],
)
def test_config_check_refuses(tmp_path, config, message) -> None:
    proc = run_check(tmp_path, config)
    assert proc.returncode == 1 and message in proc.stderr
