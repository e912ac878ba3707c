"""The workstation role on a real host, for another account than the one Ansible uses."""

from __future__ import annotations

import json

HOME = "/home/dev"


def test_switcher_is_installed_for_the_developer(host) -> None:
    switch = host.file(f"{HOME}/.local/bin/claude-switch")
    assert switch.is_file
    assert switch.user == "dev"
    assert switch.mode == 0o755


def test_env_file_is_private_and_holds_the_key(host) -> None:
    env = host.file(f"{HOME}/.claude-backends.env")
    assert env.user == "dev"
    assert env.mode == 0o600
    assert 'LOCAL_TOKEN="sk-dev-test-token-123456"' in env.content_string


def test_managed_block_and_own_content_in_rc_files(host) -> None:
    bashrc = host.file(f"{HOME}/.bashrc").content_string
    assert bashrc.startswith("# dev's own settings\nexport EDITOR=vim\nalias ll='ls -l'\n")
    assert "alias cc-local='source claude-switch local && claude" in bashrc
    zshrc = host.file(f"{HOME}/.zshrc")
    assert zshrc.user == "dev"
    assert "# BEGIN ccprov managed block" in zshrc.content_string


def test_settings_merged_and_onboarding_done(host) -> None:
    settings = json.loads(host.file(f"{HOME}/.claude/settings.json").content_string)
    assert settings == {"model": "opus", "env": {"MY_OWN": "keep-me", "DISABLE_TELEMETRY": "1"}}
    state = json.loads(host.file(f"{HOME}/.claude.json").content_string)
    assert state["hasCompletedOnboarding"] is True
    assert host.file(f"{HOME}/.claude.json").user == "dev"


def test_skills_are_in_claude_codes_format(host) -> None:
    for skill in ("vibe-orchestrator", "cloud-escalator"):
        text = host.file(f"{HOME}/.claude/skills/{skill}/SKILL.md").content_string
        assert text.startswith(f"---\nname: {skill}\ndescription: ")


def _switched_env(host, shell: str) -> dict[str, str]:
    out = host.check_output(
        f"su - dev -c \"{shell} -ic 'source claude-switch local >/dev/null; env'\""
    )
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_bash_login_gets_the_local_backend(host) -> None:
    env = _switched_env(host, "bash")
    assert env["ANTHROPIC_BASE_URL"] == "http://gateway.test:4000"
    assert env["ANTHROPIC_MODEL"] == "devstral"
    assert env["ANTHROPIC_AUTH_TOKEN"] == "sk-dev-test-token-123456"
    assert env["CLAUDE_SWITCH_BACKEND"] == "local"


def test_zsh_gets_the_local_backend(host) -> None:
    env = _switched_env(host, "zsh")
    assert env["ANTHROPIC_BASE_URL"] == "http://gateway.test:4000"
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "devstral"


# Sourced by the developer's interactive login shell: switch, put a stand-in for Claude Code
# first on PATH, then show what the shell, its children and `claude`/`cc-local` each trust.
_CA_CHECK = """source claude-switch local >/dev/null
PATH=/tmp/ccprov-fake-claude:$PATH
echo "shell: ${NODE_EXTRA_CA_CERTS-none}"
sh -c 'echo "child: ${NODE_EXTRA_CA_CERTS-none}"'
claude
cc-local
source claude-switch cloud >/dev/null
claude
"""


def test_the_gateway_ca_reaches_claude_launches_only(host) -> None:
    host.check_output(
        "mkdir -p /tmp/ccprov-fake-claude && printf '%s\\n' '#!/bin/sh'"
        """ 'echo "claude: ${NODE_EXTRA_CA_CERTS-none}"' > /tmp/ccprov-fake-claude/claude"""
        " && chmod 0755 /tmp/ccprov-fake-claude/claude"
    )
    host.check_output(f"cat > /tmp/ccprov-ca-check.sh <<'EOF'\n{_CA_CHECK}EOF")
    ca = f"{HOME}/.config/ccprov/gateway-ca.pem"
    assert f'LOCAL_CA_CERT="{ca}"' in host.file(f"{HOME}/.claude-backends.env").content_string
    for shell in ("bash", "zsh"):
        out = host.check_output(f"su - dev -c \"{shell} -ic '. /tmp/ccprov-ca-check.sh'\"")
        lines = [
            line for line in out.splitlines() if line.startswith(("shell:", "child:", "claude:"))
        ]
        assert lines == [
            "shell: none",
            "child: none",
            f"claude: {ca}",
            f"claude: {ca}",
            "claude: none",
        ], (shell, out)


# The scenario's hosts (molecule.yml): what each is named for, so a wrong image cannot pass
# as Debian 13.
_RELEASES = {"instance": ("12", "3.11"), "instance-trixie": ("13", "3.13")}


def test_each_host_runs_the_debian_release_it_stands_for(host) -> None:
    debian, python = _RELEASES[host.backend.get_hostname()]
    assert host.file("/etc/os-release").contains(f'^VERSION_ID="{debian}"$')
    assert host.check_output("python3 --version").startswith(f"Python {python}.")
