"""The vLLM role's preflight refuses floating weights and a pin without a lock (issue #18).

Runs the role's preflight tasks on localhost with the GPU checks off: only the pin checks
act, nothing is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def preflight(tmp_path: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "vllm_server preflight",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {"ansible_python_interpreter": sys.executable},
                    "tasks": [
                        {
                            "name": "Preflight",
                            "ansible.builtin.include_role": {
                                "name": "vllm_server",
                                "tasks_from": "preflight.yml",
                            },
                        }
                    ],
                }
            ]
        )
    )
    extra_vars = {
        "vllm_server_skip_gpu_checks": True,
        "vllm_server_preflight_only": True,
        # Not what these tests are about (tests/unit/test_vllm_closed.py is).
        "vllm_server_api_key": "sk-vllm-pins-test-0123456789abcdef0123",
        "vllm_server_allowed_clients": ["10.0.0.2"],
        **extra,
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            str(playbook),
            "-e",
            json.dumps(extra_vars),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            "ANSIBLE_FORCE_COLOR": "0",
        },
    )


@pytest.mark.parametrize(
    "revision", ["main", "v1.0", COMMIT.upper(), COMMIT[:12], "REPLACE-WITH-THE-40-HEX-COMMIT"]
)
def test_a_floating_revision_is_refused_when_downloading(tmp_path, revision) -> None:
    proc = preflight(tmp_path, vllm_server_model_revision=revision)
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert f"vllm_server_model_revision '{revision}' is not a commit" in out
    assert "vllm_server_allow_floating_revision: true" in out


@pytest.mark.parametrize(
    "extra",
    [
        {"vllm_server_model_revision": COMMIT},
        {"vllm_server_model_revision": "main", "vllm_server_allow_floating_revision": True},
        # Not downloaded by the role (test beds): the unit loads only what is cached.
        {"vllm_server_model_revision": "main", "vllm_server_download_weights": False},
    ],
)
def test_a_commit_or_an_explicit_opt_out_passes(tmp_path, extra) -> None:
    proc = preflight(tmp_path, **extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_uv_is_pinned_venvs_hash_locked_bootstrap(tmp_path) -> None:
    """uv is no longer refused: pinned_venv bootstraps its own (hash-locked, never PATH's)."""
    proc = preflight(
        tmp_path,
        vllm_server_model_revision=COMMIT,
        vllm_server_preflight_only=False,
        vllm_server_installer="uv",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pinned_venv : Preflight | Look for uv's hash lock" in proc.stdout


def test_a_pin_without_a_lock_is_refused(tmp_path) -> None:
    proc = preflight(
        tmp_path,
        vllm_server_model_revision=COMMIT,
        vllm_server_preflight_only=False,
        vllm_server_version="9.9.9",
    )
    assert proc.returncode != 0
    assert "No hash-locked requirements for vllm 9.9.9" in " ".join(proc.stdout.split())


@pytest.mark.parametrize(("asked", "used"), [("auto", "pip"), ("pip", "pip"), ("uv", "uv")])
def test_auto_installs_with_the_venvs_pip(asked, used) -> None:
    import jinja2

    template = yaml.safe_load((REPO / "roles/vllm_server/vars/main.yml").read_text())[
        "__vllm_server_installer"
    ]
    assert jinja2.Template(template).render(vllm_server_installer=asked) == used
    venv = (REPO / "roles/vllm_server/tasks/venv.yml").read_text()
    assert "name: ccprov.stack.pinned_venv" in venv
    assert 'pinned_venv_installer: "{{ __vllm_server_installer }}"' in venv
