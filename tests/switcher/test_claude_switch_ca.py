"""claude-switch and the gateway's private CA (LOCAL_CA_CERT), in real bash and zsh: the CA
reaches the Claude Code launches only (`claude`, `cc`, `cc-local`, as NODE_EXTRA_CA_CERTS of
that one process), never the shell's environment, so other programs started from the shell
do not trust it."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.switcher.conftest import SHELLS, Rendered, write_env
from tests.switcher.test_claude_switch import GOOD_ENV

pytestmark = pytest.mark.parametrize("shell", SHELLS)

# A stand-in for Claude Code first on PATH (where its native installer puts it): it prints
# the CA file it was given and one variable set on its command line.
FAKE_CLAUDE = """#!/bin/sh
printf 'claude got CA=%s FOO=%s args=%s\\n' "${NODE_EXTRA_CA_CERTS-none}" "${FOO-none}" "$*"
"""


@pytest.fixture
def ca(home: Path) -> str:
    path = home / ".config" / "ccprov" / "gateway-ca.pem"
    path.parent.mkdir(parents=True)
    path.write_text("-----BEGIN CERTIFICATE-----\nGATEWAY\n-----END CERTIFICATE-----\n")
    return str(path)


@pytest.fixture
def claude(home: Path) -> Path:
    path = home / ".local" / "bin" / "claude"
    path.write_text(FAKE_CLAUDE)
    path.chmod(0o755)
    return path


@pytest.fixture
def mine(tmp_path: Path) -> str:
    """A NODE_EXTRA_CA_CERTS of the developer's own (no final newline)."""
    path = tmp_path / "corp-proxy-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nCORP\n-----END CERTIFICATE-----")
    return str(path)


def sh(shell: str, home: Path, script: str, *, interactive: bool = False, **env: str):
    proc = subprocess.run(
        [shell, "-ic" if interactive else "-c", script],
        env={
            "HOME": str(home),
            "PATH": f"{home}/.local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc


def got(out: str) -> list[str]:
    """What each launch of the stand-in said, in order."""
    return [line for line in out.splitlines() if line.startswith("claude got ")]


def test_local_gives_the_ca_to_claude_and_not_to_the_shell(
    shell, home, run_switch, ca, claude
) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    run = run_switch(shell, "local")
    assert run.rc == 0, run.stderr
    assert "NODE_EXTRA_CA_CERTS" not in run.after
    assert "CLAUDE_SWITCH_CA" not in run.after
    node = shutil.which("node")
    js = 'console.log("node sees " + (process.env.NODE_EXTRA_CA_CERTS || "none"))'
    script = (
        "source claude-switch local >/dev/null\n"
        "env | grep -c '^NODE_EXTRA_CA_CERTS=' || true\n"
        """sh -c 'echo "child sees ${NODE_EXTRA_CA_CERTS-none}"'\n"""
        + (f"{node} -e '{js}'\n" if node else "")
        + "claude -p hi\nFOO=1 claude\n"
        "source claude-switch status\n"
    )
    proc = sh(shell, home, script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "0"
    assert "child sees none" in lines
    if node:
        assert "node sees none" in lines
    assert got(proc.stdout) == [
        f"claude got CA={ca} FOO=none args=-p hi",
        f"claude got CA={ca} FOO=1 args=",
    ]
    assert f"CA:       {ca} (NODE_EXTRA_CA_CERTS of claude launched from this shell only)" in lines


def test_cc_local_and_cc_get_it_and_cloud_takes_it_back(
    shell, home, rendered: Rendered, ca, claude
) -> None:
    """The aliases block as the role's defaults render it, in an interactive shell."""
    rc = home / (".bashrc" if shell == "bash" else ".zshrc")
    rc.write_text(rendered.rc_block_claude.read_text())
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    proc = sh(
        shell,
        home,
        "cc; cc-local; cc; sh -c 'echo child sees ${NODE_EXTRA_CA_CERTS-none}'; "
        "cc-cloud; claude; type claude",
        interactive=True,
    )
    assert got(proc.stdout) == [
        "claude got CA=none FOO=none args=--flags",
        f"claude got CA={ca} FOO=none args=--flags",
        f"claude got CA={ca} FOO=none args=--flags",
        "claude got CA=none FOO=none args=--flags",
        "claude got CA=none FOO=none args=",
    ]
    assert "child sees none" in proc.stdout
    assert "function" not in proc.stdout.splitlines()[-1]
    assert str(claude) in proc.stdout.splitlines()[-1]


def test_another_launch_command_gets_it_from_the_aliases(
    shell, home, rendered: Rendered, ca, claude
) -> None:
    """workstation_claude_command other than `claude` bypasses the switcher's function: the
    aliases hand it the CA themselves, on the local route only."""
    custom = home / ".local" / "bin" / "my-claude"
    shutil.copy(claude, custom)
    rc = home / (".bashrc" if shell == "bash" else ".zshrc")
    rc.write_text(rendered.rc_block_custom.read_text())
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    proc = sh(shell, home, "cc; cc-local; cc; cc-cloud", interactive=True)
    assert got(proc.stdout) == [
        "claude got CA=none FOO=none args=--flags",
        f"claude got CA={ca} FOO=none args=--flags",
        f"claude got CA={ca} FOO=none args=--flags",
        "claude got CA=none FOO=none args=--flags",
    ]


@pytest.mark.parametrize("route", ["cloud", "vllm", "ollama"])
def test_other_routes_remove_the_function(shell, home, run_switch, ca, route) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    run = run_switch(shell, route, prelude="source claude-switch local >/dev/null")
    assert run.rc == 0, run.stderr
    assert "claude" in run.functions_before.split()
    assert "claude" not in run.functions_after.split()
    assert "NODE_EXTRA_CA_CERTS" not in run.after
    status = run_switch(shell, "status", prelude=f"source claude-switch {route} >/dev/null")
    assert "CA:       (system's trust store)" in status.stdout


def test_local_without_a_ca_defines_nothing(shell, home, run_switch, claude) -> None:
    write_env(home, GOOD_ENV)
    run = run_switch(shell, "local")
    assert run.rc == 0
    assert "NODE_EXTRA_CA_CERTS" not in run.after
    assert run.functions_after == run.functions_before
    assert "(system's trust store)" in run_switch(shell, "status").stdout


def test_a_value_of_the_developers_own_is_kept_and_combined_for_claude(
    shell, home, ca, claude, mine
) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    snap = 'env | grep -v "^_=" | sort; typeset -f | grep -c "^claude" || true'
    script = f"""{snap}
echo ---
source claude-switch local >/dev/null
echo "shell has $NODE_EXTRA_CA_CERTS"
claude
echo "shell still has $NODE_EXTRA_CA_CERTS"
source claude-switch status
source claude-switch cloud >/dev/null
echo ---
{snap}
"""
    proc = sh(shell, home, script, NODE_EXTRA_CA_CERTS=mine)
    assert proc.returncode == 0, proc.stderr
    before, during, after = proc.stdout.split("---\n")
    assert f"shell has {mine}" in during and f"shell still has {mine}" in during
    [launch] = got(during)
    bundle = Path(launch.split("CA=")[1].split(" FOO=")[0])
    assert bundle.parent == home / ".cache" / "ccprov"
    text = bundle.read_text()
    assert "CORP" in text and "GATEWAY" in text
    # Two PEM blocks, even though the developer's file has no final newline.
    assert text.count("-----BEGIN CERTIFICATE-----") == 2
    assert "-----END CERTIFICATE----------BEGIN" not in text
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o644
    assert f"          {mine} (your NODE_EXTRA_CA_CERTS, for every other program)" in during
    # Switching back leaves the environment and the functions exactly as they were.
    assert after == before


def test_an_unreadable_ca_of_the_developers_own_gives_claude_the_gateways(
    shell, home, ca, claude, tmp_path
) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    gone = str(tmp_path / "gone.pem")
    script = "source claude-switch local >/dev/null; claude"
    proc = sh(shell, home, script, NODE_EXTRA_CA_CERTS=gone)
    assert got(proc.stdout) == [f"claude got CA={ca} FOO=none args="]
    assert f"your NODE_EXTRA_CA_CERTS ({gone}) is missing or unreadable" in proc.stderr


def test_a_claude_function_of_the_developers_own_is_not_replaced(
    shell, home, run_switch, ca
) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    run = run_switch(shell, "local", prelude="claude() { echo mine; }")
    assert run.rc == 1
    assert run.changed_env == {}
    assert run.functions_after == run.functions_before
    assert "a shell function named claude is defined in this shell" in run.stderr


def test_a_missing_ca_file_is_an_error_and_changes_nothing(shell, home, run_switch) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{home}/nope.pem"\n')
    run = run_switch(shell, "local")
    assert run.rc == 1
    assert run.changed_env == {}
    assert run.functions_after == run.functions_before
    assert f"LOCAL_CA_CERT names {home}/nope.pem, which is missing or unreadable" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_the_template_it_writes_has_the_ca_line(shell, home, run_switch) -> None:
    run = run_switch(shell, "local")
    assert run.rc == 1
    assert 'LOCAL_CA_CERT=""' in (home / ".claude-backends.env").read_text()
