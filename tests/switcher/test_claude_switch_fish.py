"""fish (issue #31 item 3): ~/.config/fish/conf.d/ccprov.fish as the role renders it, loaded
by real fish from a throwaway home next to the real claude-switch. Its claude-switch function
runs the bash switcher and takes over what it exports: fish ends up with the same
environment as bash, the gateway's CA reaches Claude Code only, an error changes nothing,
and a universal variable of the developer's is never erased."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import role_templates
from tests.switcher.conftest import write_env
from tests.switcher.test_claude_switch import GOOD_ENV

FISH = shutil.which("fish")
needs_fish = pytest.mark.skipif(
    FISH is None,
    reason="fish is not installed here (apt-get install fish): only the rendered text is checked",
)

# A stand-in for Claude Code first on PATH: what it was started with.
FAKE_CLAUDE = """#!/bin/sh
printf 'claude CA=%s URL=%s args=%s\\n' \\
  "${NODE_EXTRA_CA_CERTS-none}" "${ANTHROPIC_BASE_URL-none}" "$*"
"""
# What a shell adds to its own environment, not the switcher.
SHELL_OWN = {"SHLVL", "PWD", "OLDPWD", "_", "TERM", "COLUMNS", "LINES"}


@pytest.fixture(scope="module")
def fish_confs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The conf.d file as the role renders it, its aliases launching `claude --flags`, and
    with workstation_claude_command `my-claude` (not the switcher's `claude` function)."""
    out = tmp_path_factory.mktemp("fish")
    commands = {"default": "claude", "custom": "my-claude"}
    jobs = [
        role_templates.Job(
            "workstation",
            "home/.config/fish/conf.d/ccprov.fish.j2",
            out / f"{name}.fish",
            {"workstation_claude_flags": "--flags", "workstation_claude_command": command},
        )
        for name, command in commands.items()
    ]
    proc = role_templates.render(out / "work", jobs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {name: out / f"{name}.fish" for name in commands}


@pytest.fixture
def fish_conf(fish_confs: dict[str, Path]) -> Path:
    return fish_confs["default"]


@pytest.fixture
def fish_home(home: Path, fish_conf: Path) -> Path:
    """A home with claude-switch (conftest's `home`), the conf.d file and a fake claude."""
    conf_d = home / ".config" / "fish" / "conf.d"
    conf_d.mkdir(parents=True)
    shutil.copy(fish_conf, conf_d / "ccprov.fish")
    for name in ("claude", "my-claude"):
        claude = home / ".local" / "bin" / name
        claude.write_text(FAKE_CLAUDE)
        claude.chmod(0o755)
    return home


def fish(home: Path, script: str) -> subprocess.CompletedProcess[str]:
    assert FISH
    return subprocess.run(
        [FISH, "-c", script],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def env_after(home: Path, script: str) -> tuple[dict[str, str], dict[str, str], str]:
    """fish's exported environment before and after SCRIPT, and the run's output."""
    proc = fish(home, f'env -0 >"$HOME/before"; {script}; echo "rc=$status"; env -0 >"$HOME/after"')
    assert "rc=" in proc.stdout, proc.stdout + proc.stderr
    return _env(home / "before"), _env(home / "after"), proc.stdout + proc.stderr


def _env(path: Path) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in path.read_text().split("\0") if "=" in item)
    return {key: value for key, value in pairs if key not in SHELL_OWN}


def changes(before: dict[str, str], after: dict[str, str]) -> dict[str, str | None]:
    return {k: after.get(k) for k in set(before) | set(after) if before.get(k) != after.get(k)}


@pytest.mark.parametrize("variant", ["default", "custom"])
def test_rendered_file_defines_the_aliases_and_claude_switch(fish_confs, variant: str) -> None:
    text = fish_confs[variant].read_text()
    assert text.startswith("#\n# Ansible managed")
    defined = set(re.findall(r"^function (\S+)", text, re.M))
    assert {"claude-switch", "cc", "cc-local", "cc-cloud", "cc-vibe"} <= defined
    assert {"default": "claude", "custom": "my-claude"}[variant] + " --flags $argv" in text
    if FISH:
        proc = subprocess.run(
            [FISH, "--no-execute", str(fish_confs[variant])],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr


@needs_fish
def test_functions_exist_in_a_fish_session(fish_home: Path) -> None:
    proc = fish(fish_home, "functions -q claude-switch cc cc-local cc-cloud cc-vibe; and echo ok")
    assert proc.stdout == "ok\n", proc.stderr


@needs_fish
@pytest.mark.parametrize("backend", ["local", "ollama", "cloud"])
def test_fish_gets_the_environment_bash_gets(fish_home: Path, run_switch, backend: str) -> None:
    write_env(fish_home, GOOD_ENV + 'CLOUD_API_KEY="sk-ant-cloud-0123456789"\n')
    bash = run_switch("bash", backend)
    assert bash.rc == 0, bash.stderr
    before, after, out = env_after(fish_home, f"claude-switch {backend}")
    assert "rc=0" in out, out
    assert f"claude-switch: {backend}" in out
    wanted = {k: v for k, v in bash.changed_env.items() if k not in SHELL_OWN}
    assert changes(before, after) == {k: new for k, (_, new) in wanted.items()}


@needs_fish
def test_gateway_ca_reaches_claude_only_and_leaves_with_the_switch(fish_home: Path) -> None:
    ca = fish_home / ".config" / "ccprov" / "gateway-ca.pem"
    ca.parent.mkdir(parents=True)
    ca.write_text("-----BEGIN CERTIFICATE-----\nGATEWAY\n-----END CERTIFICATE-----\n")
    write_env(fish_home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    _, after, out = env_after(fish_home, "cc-local hello")
    assert "rc=0" in out, out
    assert f"claude CA={ca} URL=https://gateway.example.org args=--flags hello" in out
    # Neither the CA's variable nor NODE_EXTRA_CA_CERTS reached the shell's environment.
    assert after["CLAUDE_SWITCH_BACKEND"] == "local"
    assert not {"CLAUDE_SWITCH_CA", "NODE_EXTRA_CA_CERTS"} & set(after)
    proc = fish(
        fish_home,
        "claude-switch local >/dev/null; claude-switch status;"
        " claude-switch ollama >/dev/null; and cc again; functions -q claude; or echo no-claude-fn",
    )
    assert f"CA:       {ca} (NODE_EXTRA_CA_CERTS of claude launched from this shell only)" in (
        proc.stdout
    )
    assert "claude CA=none URL=http://localhost:11434 args=--flags again" in proc.stdout
    assert proc.stdout.endswith("no-claude-fn\n"), proc.stdout + proc.stderr


@needs_fish
def test_another_launch_command_gets_the_ca_itself(fish_home: Path, fish_confs) -> None:
    shutil.copy(fish_confs["custom"], fish_home / ".config" / "fish" / "conf.d" / "ccprov.fish")
    ca = fish_home / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    write_env(fish_home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    proc = fish(fish_home, "cc-local hi >/dev/null; and cc-ollama there")
    assert proc.stdout.endswith("\nclaude CA=none URL=http://localhost:11434 args=--flags there\n")
    proc = fish(fish_home, "cc-local hi")
    assert f"claude CA={ca} URL=https://gateway.example.org args=--flags hi" in proc.stdout


@needs_fish
@pytest.mark.parametrize(
    ("env_text", "script", "message"),
    [
        (GOOD_ENV, "claude-switch nosuch", "unknown backend 'nosuch'"),
        ("LOCAL_BASE_URL=no quotes here\n", "claude-switch local", "quote the value"),
        (GOOD_ENV, "claude-switch", "usage: source claude-switch BACKEND"),
    ],
)
def test_an_error_changes_nothing(fish_home: Path, env_text, script, message) -> None:
    write_env(fish_home, env_text)
    before, after, out = env_after(fish_home, f"claude-switch ollama >/dev/null; and {script}")
    assert message in out
    assert "rc=0" not in out
    assert changes(before, after).get("CLAUDE_SWITCH_BACKEND") in (None, "ollama")
    assert changes(before, after).get("ANTHROPIC_BASE_URL") in (None, "http://localhost:11434")


@needs_fish
def test_developers_own_claude_function_is_kept_and_the_ca_switch_refused(fish_home: Path) -> None:
    ca = fish_home / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    write_env(fish_home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    before, after, out = env_after(
        fish_home, "function claude; echo mine; end; claude-switch local; or claude"
    )
    assert "a shell function named claude is defined" in out
    assert "mine" in out
    assert changes(before, after) == {}


@needs_fish
def test_a_universal_variable_is_shadowed_never_erased(fish_home: Path) -> None:
    write_env(fish_home, GOOD_ENV)
    proc = fish(
        fish_home,
        "set -Ux ANTHROPIC_API_KEY sk-mine; claude-switch local >/dev/null;"
        ' echo "child=[$(env | string match "ANTHROPIC_API_KEY=*")]"',
    )
    assert "child=[ANTHROPIC_API_KEY=]" in proc.stdout, proc.stdout + proc.stderr
    # Another session still has it.
    proc = fish(fish_home, 'echo "next=$ANTHROPIC_API_KEY"')
    assert proc.stdout == "next=sk-mine\n", proc.stderr
