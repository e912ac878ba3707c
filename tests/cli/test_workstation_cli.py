"""`ccprov workstation` as a developer runs it: flags, prompts, errors, and the real run."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ccprov.cli import cli
from ccprov.workstation import onboard as workstation

CCPROV = str(Path(sys.executable).parent / "ccprov")
TOKEN = "sk-dev-cli-test-0123456789"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.key"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def run_cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCPROV_", "ANTHROPIC_"))}
    env["HOME"] = str(home)
    return subprocess.run(
        [CCPROV, "workstation", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def invoke(args: list[str], tty: bool, monkeypatch, input: str | None = None, env=None):
    monkeypatch.setattr(workstation, "is_tty", lambda: tty)
    calls: list[tuple] = []

    def fake_run_playbook(*a, **kw):
        calls.append((a, kw))
        from ccprov.runner import RunSummary

        return RunSummary(returncode=0, ok=3, changed=2, seconds=0.1)

    monkeypatch.setattr("ccprov.runner.run_playbook", fake_run_playbook)
    result = CliRunner().invoke(cli, ["workstation", *args], input=input, env=env or {})
    return result, calls


# --- Input handling (in-process, Ansible replaced by a recorder) ------------------------


def test_without_a_tty_a_missing_url_names_the_flag(monkeypatch, token_file) -> None:
    result, calls = invoke(["--token-file", str(token_file), "--no-verify"], False, monkeypatch)
    assert result.exit_code == 2
    assert "pass --base-url URL (or set CCPROV_BASE_URL)" in result.output
    assert calls == []


def test_without_a_tty_a_missing_key_names_the_flags(monkeypatch) -> None:
    result, calls = invoke(["--base-url", "http://gw:4000", "--no-verify"], False, monkeypatch)
    assert result.exit_code == 2
    assert "pass --token-file PATH or --token-stdin" in result.output
    assert calls == []


def test_on_a_tty_missing_values_are_prompted_and_the_key_is_hidden(monkeypatch) -> None:
    result, calls = invoke(
        ["--no-verify", "--yes"],
        True,
        monkeypatch,
        input="http://gw.example:4000\nsk-typed-secret-12345\n",
    )
    assert result.exit_code == 0, result.output
    assert "Gateway URL" in result.output and "Your gateway key" in result.output
    assert "sk-typed-secret-12345" not in result.output
    (playbook, _inventory, extra), _ = calls[0]
    assert playbook == "workstations.yml"
    assert extra["workstation_local_base_url"] == "http://gw.example:4000"
    assert extra["workstation_local_token"] == "sk-typed-secret-12345"


def test_environment_variables_supply_url_and_key(monkeypatch) -> None:
    result, calls = invoke(
        ["--no-verify"],
        False,
        monkeypatch,
        env={"CCPROV_BASE_URL": "https://gw.example/", "CCPROV_TOKEN": "sk-env-0123456789"},
    )
    assert result.exit_code == 0, result.output
    (_, _, extra), _ = calls[0]
    assert extra["workstation_local_base_url"] == "https://gw.example"
    assert extra["workstation_local_token"] == "sk-env-0123456789"


def test_token_stdin(monkeypatch) -> None:
    result, calls = invoke(
        ["--base-url", "http://gw:4000", "--token-stdin", "--no-verify"],
        False,
        monkeypatch,
        input="sk-from-stdin-0123\n",
    )
    assert result.exit_code == 0, result.output
    assert calls[0][0][2]["workstation_local_token"] == "sk-from-stdin-0123"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "gw:4000"], "is not an http:// or https:// URL"),
        (["--base-url", "http://gw:4000/v1"], "ends in /v1"),
        (["--base-url", "http://gw", "--model", "dev stral"], "without spaces"),
        (["--base-url", "http://gw", "--shell", "fish"], "'fish' is not one of"),
        (["--base-url", "http://gw", "--host", "dev@"], "has no host name"),
        (["--base-url", "http://gw", "--user", "no-such-user-xyz"], "is not an account"),
    ],
)
def test_bad_flags_are_one_line_errors(monkeypatch, token_file, args, message) -> None:
    result, calls = invoke([*args, "--token-file", str(token_file)], False, monkeypatch)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert calls == []


def test_unreadable_or_bad_token_files(monkeypatch, tmp_path) -> None:
    missing = tmp_path / "nope.key"
    result, _ = invoke(
        ["--base-url", "http://gw", "--token-file", str(missing)], False, monkeypatch
    )
    assert result.exit_code == 2 and "cannot read --token-file" in result.output
    two = tmp_path / "two.key"
    two.write_text("a\nb\n")
    result, _ = invoke(["--base-url", "http://gw", "--token-file", str(two)], False, monkeypatch)
    assert result.exit_code == 2 and "exactly one line" in result.output
    dollar = tmp_path / "dollar.key"
    dollar.write_text("sk-$HOME\n")
    result, _ = invoke(["--base-url", "http://gw", "--token-file", str(dollar)], False, monkeypatch)
    assert result.exit_code == 2 and "check you copied the right key" in result.output


def test_remote_host_inventory_and_account() -> None:
    target = workstation.parse_target("alice@ws12.example.org", None)
    inventory = workstation.build_inventory(target)
    assert inventory == {
        "workstations": {
            "hosts": {
                "ws12.example.org": {"ansible_host": "ws12.example.org", "ansible_user": "alice"}
            }
        }
    }
    variables = workstation.build_vars(target, "http://gw", "k", "devstral", "all")
    assert variables["workstation_user"] == "alice"
    assert variables["workstation_shells"] == ["bash", "zsh"]
    assert "workstation_home" not in variables
    root_for_bob = workstation.build_inventory(workstation.parse_target("root@ws12", "bob"))
    assert root_for_bob["workstations"]["hosts"]["ws12"]["ansible_become"] is True


def test_help_documents_every_option() -> None:
    result = CliRunner().invoke(cli, ["workstation", "--help"])
    for option in (
        "--host",
        "--user",
        "--base-url",
        "--token-file",
        "--token-stdin",
        "--model",
        "--shell",
        "--check",
        "--no-verify",
        "--yes",
        "--verbose",
    ):
        assert option in result.output


# --- The real thing: ccprov as installed, ansible-playbook as a subprocess ---------------


def test_fresh_home_then_rerun_changes_nothing(home, token_file) -> None:
    first = run_cli(
        home,
        "--base-url",
        "http://127.0.0.1:9",
        "--token-file",
        str(token_file),
        "--yes",
        "--no-verify",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed" in first.stdout
    assert TOKEN not in first.stdout + first.stderr
    env_file = home / ".claude-backends.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert (home / ".local/bin/claude-switch").exists()
    assert "source ~/.bashrc && cc-local" in first.stdout

    second = run_cli(
        home,
        "--base-url",
        "http://127.0.0.1:9",
        "--token-file",
        str(token_file),
        "--yes",
        "--no-verify",
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 changed" in second.stdout and "(no change)" in second.stdout

    # A shell started the way the developer will start one gets the local backend.
    proc = subprocess.run(
        ["bash", "-ic", "source claude-switch local >/dev/null && env"],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert env.get("ANTHROPIC_BASE_URL") == "http://127.0.0.1:9"
    assert env.get("ANTHROPIC_AUTH_TOKEN") == TOKEN
    assert env.get("ANTHROPIC_MODEL") == "devstral"
    assert env.get("ANTHROPIC_DEFAULT_HAIKU_MODEL") == "devstral"


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh not installed")
def test_zsh_only_developer(home, token_file) -> None:
    proc = run_cli(
        home,
        "--base-url",
        "http://127.0.0.1:9",
        "--token-file",
        str(token_file),
        "--yes",
        "--no-verify",
        "--shell",
        "zsh",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (home / ".zshrc").exists() and not (home / ".bashrc").exists()
    assert "source ~/.zshrc && cc-local" in proc.stdout
    out = subprocess.run(
        ["zsh", "-ic", "source claude-switch local >/dev/null && echo $ANTHROPIC_BASE_URL"],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.stdout.strip().splitlines()[-1] == "http://127.0.0.1:9"


def test_check_writes_nothing(home, token_file) -> None:
    proc = run_cli(
        home, "--base-url", "http://127.0.0.1:9", "--token-file", str(token_file), "--check"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "would" in proc.stdout
    # The one task that writes the home says which files it would write.
    assert f"created {home}/.claude-backends.env" in proc.stdout
    assert f"created {home}/.local/bin/claude-switch" in proc.stdout
    assert list(home.iterdir()) == []


def test_no_secret_in_argv_or_left_in_temp_files(home, token_file, tmp_path) -> None:
    """Watch ansible-playbook's command line while it runs; afterwards no file holds the key."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCPROV_")}
    env.update({"HOME": str(home), "TMPDIR": str(tmpdir)})
    proc = subprocess.Popen(
        [
            CCPROV,
            "workstation",
            "--base-url",
            "http://127.0.0.1:9",
            "--token-file",
            str(token_file),
            "--yes",
            "--no-verify",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen_argv: list[str] = []
    while proc.poll() is None:
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                with contextlib.suppress(OSError):
                    seen_argv.append(
                        Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                    )
        time.sleep(0.05)
    out = proc.communicate()[0]
    assert proc.returncode == 0, out
    assert any("ansible-playbook" in a for a in seen_argv)
    assert not [a for a in seen_argv if TOKEN in a]
    assert list(tmpdir.iterdir()) == []
