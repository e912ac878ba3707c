"""`ccprov smoke --conformance`: one line per check, exit 1 on any failure."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ccprov.cli import cli
from ccprov.probes import conformance


def env_file(tmp_path: Path, url: str, token: str) -> Path:
    path = tmp_path / "backends.env"
    path.write_text(f'LOCAL_BASE_URL="{url}"\nLOCAL_TOKEN="{token}"\nLOCAL_MODEL="devstral"\n')
    return path


def test_prints_one_line_per_check_and_exits_by_the_verdicts(tmp_path, monkeypatch) -> None:
    seen = {}

    def fake_run(target, only=None, fixtures=None):
        seen["target"], seen["only"] = target, only
        yield conformance.Result("stream-events", True)
        yield conformance.Result("key-as-x-api-key", False, "HTTP 401: Unauthorized")

    monkeypatch.setattr(conformance, "run", fake_run)
    path = env_file(tmp_path, "http://gw.example:4000", "sk-dev-key")
    result = CliRunner().invoke(cli, ["smoke", "--conformance", "--env-file", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [
        "ok   stream-events",
        "FAIL key-as-x-api-key: HTTP 401: Unauthorized",
    ]
    assert seen["target"].base_url == "http://gw.example:4000"
    assert seen["target"].token == "sk-dev-key" and seen["target"].model == "devstral"
    assert "sk-dev-key" not in result.output

    monkeypatch.setattr(
        conformance, "run", lambda target, only=None: iter([conformance.Result("x", True)])
    )
    assert (
        CliRunner().invoke(cli, ["smoke", "--conformance", "--env-file", str(path)]).exit_code == 0
    )


def test_against_vllm_itself_the_checks_find_what_only_a_gateway_does(tmp_path, standin_vllm):
    """Real requests: the stand-in answers like vLLM, which takes its key as Bearer only."""
    path = env_file(tmp_path, standin_vllm.url, standin_vllm.api_key)
    result = CliRunner().invoke(
        cli, ["smoke", "--conformance", "--env-file", str(path), "--only", "key-as"]
    )
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()[1:]
    assert lines[0] == "ok   key-as-bearer"
    assert lines[1].startswith("FAIL key-as-x-api-key: HTTP 401")
    assert standin_vllm.api_key not in result.output
