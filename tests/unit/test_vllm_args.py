"""The vllm serve command line built from inventory: the seed's line is the default."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from tests.conftest import REPO, load_file

va = load_file("vllm_args", REPO / "plugins/filter/vllm_args.py")

SEED = (
    "vllm serve mistralai/Devstral-2-123B-Instruct-2512 --served-model-name devstral "
    "--tool-call-parser mistral --enable-auto-tool-choice --tensor-parallel-size 2 "
    "--quantization fp8"
)


def defaults_config() -> dict:
    d = yaml.safe_load((REPO / "roles/vllm_server/defaults/main.yml").read_text())
    return {
        "model": d["vllm_server_model"],
        "served_model_name": d["vllm_server_served_model_name"],
        "tool_call_parser": d["vllm_server_tool_call_parser"],
        "enable_auto_tool_choice": d["vllm_server_enable_auto_tool_choice"],
        "tensor_parallel_size": d["vllm_server_tensor_parallel_size"],
        "quantization": d["vllm_server_quantization"],
        "host": d["vllm_server_host"],
        "port": d["vllm_server_port"],
        "enable_prefix_caching": d["vllm_server_enable_prefix_caching"],
        "enable_prompt_tokens_details": d["vllm_server_enable_prompt_tokens_details"],
        "gpu_memory_utilization": d["vllm_server_gpu_memory_utilization"],
        "revision": d["vllm_server_model_revision"],
        "max_model_len": d["vllm_server_max_model_len"],
    }


def test_default_inventory_renders_the_seed_line() -> None:
    args = va.vllm_serve_args(defaults_config())
    line = " ".join(["vllm", *args])
    assert line.startswith(SEED + " ")
    assert "--host 0.0.0.0 --port 8000" in line
    assert "--enable-prefix-caching" in line
    # Cached tokens in the usage, for the gateway's usage log (ccprov usage's cache share).
    assert line.endswith("--enable-prompt-tokens-details")
    assert "--api-key" not in line


def test_drain_timeout_is_vllms_shutdown_timeout() -> None:
    """vllm_server_drain_timeout (issue #29) -> --shutdown-timeout: vLLM 0.33.0 then drains
    its requests in flight at SIGTERM instead of aborting them (engine/arg_utils.py)."""
    args = va.vllm_serve_args({**defaults_config(), "shutdown_timeout": 300})
    assert args[args.index("--shutdown-timeout") + 1] == "300"
    assert "--shutdown-timeout" not in va.vllm_serve_args(
        {**defaults_config(), "shutdown_timeout": 0}
    )


def test_exec_start_quotes_for_systemd() -> None:
    args = va.vllm_serve_args({**defaults_config(), "extra_args": ["--chat-template", "a b.jinja"]})
    exec_start = va.vllm_exec_start(args, "/opt/vllm/current/bin/vllm")
    assert exec_start.startswith("/opt/vllm/current/bin/vllm serve mistralai/Devstral-2-123B")
    assert exec_start.endswith('--chat-template "a b.jinja"')
    assert shlex.split(exec_start)[-1] == "a b.jinja"


def test_options_are_optional() -> None:
    args = va.vllm_serve_args(
        {
            "model": "m",
            "tensor_parallel_size": 1,
            "max_model_len": 32768,
            "enable_prefix_caching": False,
        }
    )
    assert args == [
        "serve",
        "m",
        "--tensor-parallel-size",
        "1",
        "--max-model-len",
        "32768",
        "--no-enable-prefix-caching",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"model": ""},
        {"model": "m", "tensor_parallel_size": 0},
        {"model": "m", "extra_args": ["--api-key", "x"]},
    ],
)
def test_bad_inputs(bad) -> None:
    with pytest.raises(AnsibleFilterError):
        va.vllm_serve_args(bad)


def test_every_flag_is_one_the_stand_in_accepts() -> None:
    """The stand-in refuses unknown flags exactly like vLLM, so this catches typos."""
    import subprocess
    import sys

    args = va.vllm_serve_args(
        {
            **defaults_config(),
            "tokenizer_mode": "mistral",
            "config_format": "mistral",
            "load_format": "mistral",
            "max_num_seqs": 64,
            "ssl_certfile": "/etc/vllm/tls/vllm.crt",
            "ssl_keyfile": "/etc/vllm/tls/vllm.key",
        }
    )
    assert args[args.index("--ssl-certfile") + 1] == "/etc/vllm/tls/vllm.crt"
    assert args[args.index("--ssl-keyfile") + 1] == "/etc/vllm/tls/vllm.key"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vllm.cli import build_parser; "
            "build_parser().parse_args(sys.argv[1:])",
            *args,
        ],
        env={"PYTHONPATH": str(REPO / "tests/standins/vllm/src")},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_a_gpu_host_with_a_certificate_becomes_an_https_backend() -> None:
    fleet = load_file("ccprov_fleet", REPO / "plugins/filter/ccprov_fleet.py")
    host = {"inventory_hostname": "gpu1", "ansible_host": "10.0.0.11", "vllm_server_port": 8000}
    assert fleet.ccprov_gpu_backend(host)["api_base"] == "http://10.0.0.11:8000/v1"
    tls = {**host, "vllm_server_tls_certificate": "-----BEGIN CERTIFICATE-----"}
    assert fleet.ccprov_gpu_backend(tls)["api_base"] == "https://10.0.0.11:8000/v1"


def test_the_gateway_play_takes_every_gpu_host_and_its_key(tmp_path: Path) -> None:
    """playbooks/gateways.yml's first task, with no backends in the inventory: one backend
    per GPU host and the backends' key, both through ccprov_gpu_backend (the play names no
    server role's variable)."""
    play = yaml.safe_load((REPO / "playbooks/gateways.yml").read_text())[0]
    task = next(t for t in play["pre_tasks"] if "litellm_gateway_backends" in str(t))
    out = tmp_path / "backends.json"
    report = "{{ {'backends': litellm_gateway_backends, 'key': litellm_gateway_backend_api_key} }}"
    write = {"ansible.builtin.copy": {"content": report, "dest": str(out), "mode": "0600"}}
    (tmp_path / "play.yml").write_text(
        yaml.safe_dump([{"hosts": "gateways", "gather_facts": False, "tasks": [task, write]}])
    )
    gpu = {"vllm_server_api_key": "sk-gpu-0123456789abcdef0123"}
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "gateways": {"hosts": {"gw1": {"ansible_connection": "local"}}},
                "gpu_hosts": {
                    "vars": gpu,
                    "hosts": {
                        "gpu1": {"ansible_host": "10.0.0.11"},
                        "gpu2": {"vllm_server_port": 8001},
                    },
                },
            }
        )
    )
    run = subprocess.run(
        [Path(sys.executable).parent / "ansible-playbook", "-i", "hosts.yml", "play.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        },
    )
    assert run.returncode == 0, run.stdout + run.stderr
    key = gpu["vllm_server_api_key"]
    assert json.loads(out.read_text()) == {
        "backends": [
            {"api_base": "http://10.0.0.11:8000/v1", "api_key": key},
            {"api_base": "http://gpu2:8001/v1", "api_key": key},
        ],
        "key": key,
    }


def test_the_units_command_line_serves_every_path_behind_the_key(tmp_path) -> None:
    """Issue #28: the rendered unit runs vLLM with `--middleware ccprov_vllm_guard.KeyGuard`
    and the guard's installed directory on its PYTHONPATH (tasks/configure.yml copies
    files/ccprov_vllm_guard.py there); the stand-in started from that ExecStart, with the
    module where the unit looks, refuses /invocations without the key and keeps /health."""
    import shutil

    from tests.support import role_templates
    from tests.support.standin import free_port
    from tests.vllm_reference import key_sweep

    port = free_port()
    unit = tmp_path / "vllm.service"
    job = role_templates.Job("vllm_server", "etc/systemd/system/vllm.service.j2", unit)
    extra = {"vllm_server_host": "127.0.0.1", "vllm_server_port": port}
    proc = role_templates.render(tmp_path / "render", [job], extra)
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = unit.read_text().splitlines()
    exec_start = shlex.split(next(x for x in lines if x.startswith("ExecStart="))[10:])
    assert exec_start[-2:] == ["--middleware", "ccprov_vllm_guard.KeyGuard"]
    (pythonpath,) = [x.split("=", 2)[2] for x in lines if x.startswith("Environment=PYTHONPATH=")]
    tasks = yaml.safe_load((REPO / "roles/vllm_server/tasks/configure.yml").read_text())
    (copy,) = [
        t["ansible.builtin.copy"]
        for t in tasks
        if t.get("ansible.builtin.copy", {}).get("src") == "ccprov_vllm_guard.py"
    ]
    guard_dir = yaml.safe_load((REPO / "roles/vllm_server/vars/main.yml").read_text())[
        "__vllm_server_guard_dir"
    ]
    assert pythonpath == guard_dir
    assert copy["dest"] == "{{ __vllm_server_guard_dir }}/ccprov_vllm_guard.py"
    installed = tmp_path / guard_dir.lstrip("/")
    installed.mkdir(parents=True)
    shutil.copy(REPO / "roles/vllm_server/files" / copy["src"], installed)

    key = "sk-gpu-0123456789abcdef0123456789abcdef"
    url = f"http://127.0.0.1:{port}"
    with key_sweep.standin(exec_start[1:], key, installed) as standin:
        assert standin.poll() is None, standin.stderr.read() if standin.stderr else ""
        assert key_sweep.status(url, "POST", "/invocations", {}) == 401
        assert key_sweep.status(url, "GET", "/version", {}) == 401
        assert key_sweep.status(url, "GET", "/health", {}) == 200
        bearer = {"Authorization": f"Bearer {key}"}
        assert key_sweep.status(url, "GET", "/v1/models", bearer) == 200
