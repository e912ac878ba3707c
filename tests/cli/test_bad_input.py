"""Bad input to `ccprov workstation` / `ccprov status`: one line, non-zero, no traceback, and
never a password or key on the screen. The messages are the ones in the workstation README's
"Bad input -> message" table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ccprov import cli as cli_module
from ccprov.cli import cli
from ccprov.workstation import onboard as workstation
from ccprov.workstation import probe

TOKEN = "sk-dev-bad-input-0123456789"
SECRET = "hunter2pw"


def invoke(args: list[str], monkeypatch, input: str | None = None):
    monkeypatch.setattr(workstation, "is_tty", lambda: False)
    calls: list[tuple] = []

    def fake_run_playbook(*a, **kw):
        calls.append((a, kw))
        from ccprov.runner import RunSummary

        return RunSummary(returncode=0, ok=3, changed=2, seconds=0.1)

    monkeypatch.setattr("ccprov.runner.run_playbook", fake_run_playbook)
    result = CliRunner().invoke(cli, ["workstation", *args, "--no-verify"], input=input, env={})
    return result, calls


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("Error:", "warning:"))]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.key"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            f"http://dev:{SECRET}@gw.example",
            "Error: --base-url holds a user name or password (the part before @): remove it,"
            " keys never go in URLs; pass the key with --token-file or --token-stdin, e.g."
            " --base-url https://llm-gateway.example.org",
        ),
        (f"dev:{SECRET}@gw.example", "Error: --base-url holds a user name or password"),
        (
            "http://gw example:4000",
            "Error: --base-url 'http://gw example:4000' contains a space or control character;"
            " e.g. --base-url https://llm-gateway.example.org",
        ),
        (
            "http://gw\x1b[2J.example",
            "Error: --base-url 'http://gw\\x1b[2J.example' contains a space or control character",
        ),
        ("http://gätewäy.example", "contains non-ASCII characters: use the host's ASCII (xn--)"),
        ("ftp://gw.example", "Error: --base-url 'ftp://gw.example' is not an http:// or https://"),
        ("http://", "Error: --base-url 'http://' has no host name"),
        ("http://gw:99999", "Error: --base-url 'http://gw:99999' is not a valid URL (check the"),
        ("http://[::1", "is not a valid URL (check the host and port)"),
        ("http://gw/?x=1", "has a ?query or #fragment: pass the gateway's root URL"),
    ],
)
def test_bad_base_urls(monkeypatch, key_file, url, message) -> None:
    result, calls = invoke(["--base-url", url, "--token-file", str(key_file)], monkeypatch)
    assert result.exit_code == 2
    lines = error_lines(result.output)
    assert len(lines) == 1 and message in lines[0], result.output
    assert SECRET not in result.output and "\x1b" not in result.output
    assert "Traceback" not in result.output and calls == []


def test_bad_mistral_api_base_names_its_own_key_option(monkeypatch, key_file) -> None:
    result, calls = invoke(
        [
            *("--base-url", "http://gw", "--token-file", str(key_file), "--vibe"),
            *("--mistral-api-base", f"https://me:{SECRET}@api.mistral.ai/v1"),
        ],
        monkeypatch,
    )
    assert result.exit_code == 2 and SECRET not in result.output and calls == []
    assert "pass the key with --mistral-key-file" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfesk-\x00\n", "is not UTF-8 text: it must hold the gateway key on one line"),
        (b"a" * 3_000_000, "is longer than 4096 bytes: not a key; check the file"),
        (b"sk-" + b"a" * 4094 + b"\n", "is longer than 4096 bytes"),
        (b"sk-abc def\n", "the gateway key contains spaces, control characters or one of"),
        (b"sk-abc\tdef\n", "the gateway key contains spaces, control characters"),
        (b"sk-abc\x07def\n", "the gateway key contains spaces, control characters"),
        (b"sk-one\nsk-two\n", "must hold exactly one line: the gateway key"),
        (b"\n\n", "must hold exactly one line: the gateway key"),
    ],
    ids=["not-utf8", "3MB", "4097", "space", "tab", "bell", "two-lines", "empty"],
)
def test_bad_key_files(monkeypatch, tmp_path, content, message) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    path.chmod(0o600)
    result, calls = invoke(["--base-url", "http://gw", "--token-file", str(path)], monkeypatch)
    assert result.exit_code == 2, result.output
    lines = error_lines(result.output)
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output and calls == []


def test_a_key_of_exactly_4096_characters_is_accepted(monkeypatch, tmp_path) -> None:
    path = tmp_path / "long.key"
    path.write_text("k" * 4096 + "\n")
    path.chmod(0o600)
    result, calls = invoke(["--base-url", "http://gw", "--token-file", str(path)], monkeypatch)
    assert result.exit_code == 0, result.output
    assert len(calls) == 1


def test_a_key_file_others_can_read_is_used_with_a_warning(monkeypatch, tmp_path) -> None:
    path = tmp_path / "open.key"
    path.write_text(TOKEN + "\n")
    path.chmod(0o644)
    result, calls = invoke(["--base-url", "http://gw", "--token-file", str(path)], monkeypatch)
    assert result.exit_code == 0, result.output
    assert (
        f"warning: --token-file {path} can be read by other users (mode 0644); run:"
        f" chmod 600 {path}"
    ) in result.output
    assert calls[0][0][2]["workstation_local_token"] == TOKEN
    assert TOKEN not in result.output


def test_a_private_key_file_gets_no_warning(monkeypatch, key_file) -> None:
    result, _ = invoke(["--base-url", "http://gw", "--token-file", str(key_file)], monkeypatch)
    assert result.exit_code == 0 and "warning" not in result.output


def test_token_stdin_not_utf8_or_too_long(monkeypatch) -> None:
    result, calls = invoke(
        ["--base-url", "http://gw", "--token-stdin"], monkeypatch, input="k" * 5000 + "\n"
    )
    assert result.exit_code == 2 and "longer than 4096 characters" in result.output
    assert calls == []


# --- ccprov status with a bad URL already in the env file ---------------------------------


@pytest.mark.parametrize(
    ("url", "shown", "problem"),
    [
        ("http://gw example:4000", "http://gw example:4000", "contains a space or control"),
        (f"http://dev:{SECRET}@gw:4000", "http://***@gw:4000", "holds a user name or password"),
        ("http://gw\t:4000", "http://gw\\t:4000", "contains a space or control character"),
    ],
)
def test_status_with_a_bad_url_in_the_env_file(tmp_path, url, shown, problem) -> None:
    env_file = tmp_path / "backends.env"
    env_file.write_text(f'LOCAL_BASE_URL="{url}"\nLOCAL_TOKEN="{TOKEN}"\nLOCAL_MODEL="m"\n')
    result = CliRunner().invoke(cli, ["status", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"ccprov status: {env_file}: LOCAL_BASE_URL '{shown}' {problem}"
        + result.output.split(problem, 1)[1].rstrip("\n")
    ]
    assert result.output.rstrip().endswith("; fix that line (or run `ccprov workstation` again)")
    assert SECRET not in result.output and TOKEN not in result.output


def test_the_probes_refuse_a_bad_url_without_a_request(monkeypatch) -> None:
    def no_request(*_a, **_k):
        raise AssertionError("no request may be made")

    monkeypatch.setattr(probe, "_open", no_request)
    result = probe.send_message("http://gw example", TOKEN, "m")
    assert not result.ok and "contains a space or control character" in result.detail
    models_result, models = probe.list_models(f"http://u:{SECRET}@gw", TOKEN)
    assert not models_result.ok and models == [] and SECRET not in models_result.detail


# --- the top-level guard --------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_with_where_to_report(monkeypatch, capsys) -> None:
    def boom(*_a, **_k):
        raise KeyError("something unforeseen")

    monkeypatch.setattr("ccprov.workstation.status.run", boom)
    monkeypatch.delenv("CCPROV_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["ccprov", "status"])
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "ccprov: unexpected error KeyError at test_bad_input.py:"
        + err.split("test_bad_input.py:", 1)[1].split(":", 1)[0]
        + ": 'something unforeseen'; this is a bug, please report it to"
        f" {cli_module.REPORT_TO} (-v or CCPROV_DEBUG=1 shows the traceback)"
    ]


def test_the_traceback_only_with_debug(monkeypatch, capsys) -> None:
    def boom(*_a, **_k):
        raise RuntimeError("kaput")

    monkeypatch.setattr("ccprov.workstation.status.run", boom)
    monkeypatch.setenv("CCPROV_DEBUG", "1")
    monkeypatch.setattr(sys, "argv", ["ccprov", "status"])
    with pytest.raises(SystemExit):
        cli_module.main()
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("ccprov: unexpected error RuntimeError")


def test_the_guard_leaves_clicks_own_errors_alone(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["ccprov", "status", "--no-such-flag"])
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main()
    assert exit_info.value.code == 2
    assert "No such option" in capsys.readouterr().err
