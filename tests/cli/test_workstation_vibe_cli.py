"""`ccprov workstation --vibe / --agent`: how the Mistral key and the agent choices reach
Ansible, and the one-line errors for bad input (Ansible replaced by a recorder)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ccprov.cli import cli
from ccprov.workstation import agents_compare
from ccprov.workstation import onboard as workstation

BASE = ["--base-url", "http://gw:4000", "--no-verify"]
ENV = {"CCPROV_TOKEN": "sk-gateway-0123456789"}


def invoke(args: list[str], monkeypatch, tty: bool = False, env=None, input=None):
    monkeypatch.setattr(workstation, "is_tty", lambda: tty)
    calls: list[dict] = []

    def fake_run_playbook(*a, **kw):
        calls.append(a[2])
        from ccprov.runner import RunSummary

        return RunSummary(returncode=0, ok=3, changed=2, seconds=0.1)

    monkeypatch.setattr("ccprov.runner.run_playbook", fake_run_playbook)
    result = CliRunner().invoke(
        cli, ["workstation", *args], env={**ENV, **(env or {})}, input=input
    )
    return result, calls


def test_vibe_takes_the_key_from_a_file_and_never_prints_it(monkeypatch, tmp_path) -> None:
    key = tmp_path / "mistral.key"
    key.write_text("mk-secret-0123456789\n")
    result, calls = invoke(
        [
            *BASE,
            "--vibe",
            "--mistral-key-file",
            str(key),
            "--mistral-api-base",
            "http://127.0.0.1:8100/v1/",
            "--vibe-port",
            "4100",
        ],
        monkeypatch,
    )
    assert result.exit_code == 0, result.output
    assert calls[0]["workstation_vibe_proxy"] is True
    assert calls[0]["workstation_vibe_mistral_api_key"] == "mk-secret-0123456789"
    assert calls[0]["workstation_vibe_mistral_api_base"] == "http://127.0.0.1:8100/v1"
    assert calls[0]["workstation_vibe_proxy_port"] == 4100
    assert "mk-secret-0123456789" not in result.output
    assert "****6789" in result.output


def test_vibe_key_from_the_environment_or_a_hidden_prompt(monkeypatch) -> None:
    result, calls = invoke([*BASE, "--vibe"], monkeypatch, env={"MISTRAL_API_KEY": "mk-env-012345"})
    assert result.exit_code == 0, result.output
    assert calls[0]["workstation_vibe_mistral_api_key"] == "mk-env-012345"
    result, calls = invoke(
        [*BASE, "--vibe", "--yes"], monkeypatch, tty=True, input="mk-typed-0123\n"
    )
    assert result.exit_code == 0, result.output
    assert calls[0]["workstation_vibe_mistral_api_key"] == "mk-typed-0123"
    assert "mk-typed-0123" not in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--vibe"], {}, "--vibe needs your Mistral API key: pass --mistral-key-file PATH"),
        (
            ["--vibe", "--mistral-api-base", "api.mistral.ai"],
            {"MISTRAL_API_KEY": "mk-1"},
            "is not an http:// or https:// URL",
        ),
        (["--vibe"], {"MISTRAL_API_KEY": "mk-$HOME"}, "check you copied it right"),
        (["--vibe-python", "/usr/bin/python3.12"], {}, "is for --agent mistral-vibe"),
        (["--agent", "aider"], {}, "'aider' is not one of"),
    ],
)
def test_bad_vibe_and_agent_input_is_one_line(monkeypatch, args, env, message) -> None:
    result, calls = invoke([*BASE, *args], monkeypatch, env=env)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert calls == []


def test_agents_are_passed_as_role_switches(monkeypatch) -> None:
    result, calls = invoke(
        [*BASE, "--agent", "opencode", "--agent", "mistral-vibe", "--vibe-python", "/opt/py312"],
        monkeypatch,
    )
    assert result.exit_code == 0, result.output
    assert calls[0]["workstation_opencode"] is True
    assert calls[0]["workstation_mistral_vibe"] is True
    assert calls[0]["workstation_mistral_vibe_python"] == "/opt/py312"
    assert "workstation_vibe_proxy" not in calls[0]


def test_agents_table_shows_medians_marks_and_missing_harnesses() -> None:
    fast = agents_compare.Cell(seconds=[0.9, 0.7, 5.0], passed=[True, True, True])
    wrong = agents_compare.Cell(seconds=[2.0], passed=[False])
    broken = agents_compare.Cell(error="Error: Unauthorized")
    table = agents_compare.render(
        ["Claude Code", "OpenCode", "Vibe"],
        {
            "Reasoning": {"Claude Code": fast, "OpenCode": wrong, "Vibe": None},
            "Error recovery": {"Claude Code": broken, "OpenCode": fast, "Vibe": None},
        },
    )
    assert table.splitlines() == [
        "| Test | Claude Code | OpenCode | Vibe |",
        "|---|---|---|---|",
        "| Reasoning | 0.9s | 2.0s ✗ | not installed |",
        "| Error recovery | error: Error: Unauthorized | 0.9s | not installed |",
    ]


def test_agents_comparison_runs_only_on_the_gateway(tmp_path) -> None:
    env_file = tmp_path / "backends.env"
    env_file.write_text(
        'LOCAL_BASE_URL="http://gw:4000"\nLOCAL_TOKEN="sk-0123456789"\nLOCAL_MODEL="devstral"\n'
        'VLLM_BASE_URL="http://gpu:8000"\nVLLM_TOKEN="k-0123456789"\nVLLM_MODEL="devstral"\n'
    )
    result = CliRunner().invoke(
        cli, ["smoke", "--agents", "--backend", "vllm", "--env-file", str(env_file)]
    )
    assert result.exit_code == 2
    assert "use --backend local" in result.output
