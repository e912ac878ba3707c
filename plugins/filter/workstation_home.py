"""What the workstation role writes into a home, as the lists its home_files module takes:
the derived lists of vars/main.yml, built here instead of in Jinja (tested in
tests/unit/test_workstation_home_filters.py). Each entry is a dict home_files reads: path
plus mode, content, merge, or the rc block's fields."""

from __future__ import annotations

import os
import re
from typing import Any

from ansible.errors import AnsibleFilterError

# What ~/.claude-backends.env (and the vibe proxy's env file) cannot hold in a value: its
# KEY="value" grammar has no escapes (claude-switch's reader and ccprov.envfile refuse them).
_UNSAFE = re.compile(r"[\"$`\\\n]")
# The shells whose rc file gets the aliases block when none are asked for.
_SHELLS = ("bash", "zsh")


def workstation_enabled(flags: dict[str, Any]) -> list[str]:
    """The names whose flag is on, in order: {'a': true, 'b': false} -> ['a']."""
    return [name for name, on in flags.items() if _bool(on)]


def workstation_dirs(paths: list[str], mode: str) -> list[dict[str, str]]:
    """Directories of one mode: ['/h/.x'] -> [{'path': '/h/.x', 'mode': mode}]."""
    return [{"path": path, "mode": mode} for path in paths]


def workstation_home_dirs(home: str, skills: list[str], config_dir: bool) -> list[dict[str, str]]:
    """The directories of a plain setup: ~/.local/bin (claude-switch), ~/.claude (private),
    each skill's, and ~/.config/ccprov (private) when a file goes there (the gateway's CA).
    Missing parents (~/.local, ~/.claude/skills) are made 0755 by home_files."""
    dirs = [
        {"path": f"{home}/.local/bin", "mode": "0755"},
        {"path": f"{home}/.claude", "mode": "0700"},
    ]
    dirs += workstation_dirs(workstation_skill_dirs(skills, home), "0755")
    if _bool(config_dir):
        dirs.append({"path": f"{home}/.config/ccprov", "mode": "0700"})
    return dirs


def workstation_skill_dirs(skills: list[str], home: str) -> list[str]:
    """~/.claude/skills/NAME for each skill."""
    return [f"{home}/.claude/skills/{name}" for name in skills]


def workstation_skill_templates(skills: list[str]) -> list[str]:
    """The role's template of each skill (under templates/)."""
    return [f"home/.claude/skills/{name}/SKILL.md.j2" for name in skills]


def workstation_skill_files(
    skills: list[str], home: str, contents: list[str]
) -> list[dict[str, str]]:
    """~/.claude/skills/NAME/SKILL.md with its rendered template, in the order of SKILLS."""
    if len(contents) != len(skills):
        raise AnsibleFilterError(f"{len(skills)} skills but {len(contents)} rendered templates")
    return [
        {"path": f"{directory}/SKILL.md", "content": content}
        for directory, content in zip(workstation_skill_dirs(skills, home), contents, strict=True)
    ]


def workstation_rc_blocks(
    home: str, shells: list[str], block: str, marker: str, backup: bool, bash_login: str = ""
) -> list[dict[str, Any]]:
    """The aliases block for each shell's rc file (~/.bashrc, ~/.zshrc). Shells asked for
    get it always; with none asked, bash's and zsh's get it where the file exists or the
    shell is the login shell (home_files reads that from the passwd database). BASH_LOGIN
    (macOS, where a login bash never reads ~/.bashrc): that startup file gets it too."""
    files = [(f".{shell}rc", shell) for shell in (shells or _SHELLS)]
    if bash_login and "bash" in (shells or _SHELLS):
        files.append((bash_login, "bash"))
    return [
        {
            "path": f"{home}/{name}",
            "shell": shell,
            "block": block,
            "marker": marker,
            "backup": _bool(backup),
            "create": "always" if shells else "if_login_shell",
        }
        for name, shell in files
    ]


def workstation_claude_json(
    home: str, settings_env: dict[str, Any], onboarding_done: bool
) -> list[dict[str, Any]]:
    """The merges into Claude Code's JSON files (other keys are kept): the env object of
    ~/.claude/settings.json when there is one to set, and the first-run flag of ~/.claude.json."""
    merges: list[dict[str, Any]] = []
    if settings_env:
        merges.append({"path": f"{home}/.claude/settings.json", "merge": {"env": settings_env}})
    if _bool(onboarding_done):
        merges.append({"path": f"{home}/.claude.json", "merge": {"hasCompletedOnboarding": True}})
    return merges


def workstation_agent_home(
    home: str,
    gateway_key_file: str,
    gateway_key_line: str,
    opencode: dict[str, Any] | None = None,
    mistral_vibe: dict[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The local agents' config, as home_files' directories, private_files, files and json.
    The gateway key goes into one 0600 file (~/.config/ccprov/gateway.key) that the agents'
    configs point at. OPENCODE ({'lock': text, 'config': dict}) when OpenCode is on: its
    plugin lock (written once, then the developer's) and the config merged into
    ~/.config/opencode/opencode.json. MISTRAL_VIBE ({'env': text, 'config': text}) when
    Mistral Vibe is on: ~/.vibe/.env (0600) and ~/.vibe/config.toml."""
    plan: dict[str, list[dict[str, Any]]] = {
        "directories": [{"path": f"{home}/.config/ccprov", "mode": "0700"}],
        "private_files": [{"path": gateway_key_file, "content": gateway_key_line}],
        "files": [],
        "json": [],
    }
    if opencode:
        config_dir = f"{home}/.config/opencode"
        plan["directories"] += workstation_dirs([config_dir, f"{config_dir}/node_modules"], "0755")
        plan["files"].append(
            {
                "path": f"{config_dir}/package-lock.json",
                "mode": "0644",
                "force": False,
                "content": opencode["lock"],
            }
        )
        plan["json"].append({"path": f"{config_dir}/opencode.json", "merge": opencode["config"]})
    if mistral_vibe:
        plan["directories"].append({"path": f"{home}/.vibe", "mode": "0700"})
        plan["private_files"].append({"path": f"{home}/.vibe/.env", "content": mistral_vibe["env"]})
        plan["files"].append(
            {"path": f"{home}/.vibe/config.toml", "mode": "0644", "content": mistral_vibe["config"]}
        )
    return plan


def workstation_env_inputs(backends: list[dict[str, Any]]) -> list[str]:
    """The public role variables (not __-derived ones) that fill ~/.claude-backends.env,
    from the backend table (vars/backends.yml), each once, in table order."""
    names: list[str] = []
    for backend in backends:
        for line in backend.get("env", []):
            var = str(line.get("var", "__"))  # (a `setting` line: workstation_backend_settings)
            if not var.startswith("__") and var not in names:
                names.append(var)
    return names


def workstation_legacy_settings(backends: list[dict[str, Any]]) -> list[str]:
    """workstation_<name>_<setting> for each of the table's settings: ccprov 0.1.0's variables
    (workstation_vllm_token, ...), which an inventory may still set."""
    return [
        f"workstation_{backend['name']}_{key}"
        for backend in backends
        for key in backend.get("settings", {})
    ]


def workstation_backend_settings(
    backends: list[dict[str, Any]], given: dict[str, Any], legacy: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each backend's settings (vars/backends.yml `settings`): the table's defaults, then the
    0.1.0 variables an inventory still sets (LEGACY, by name), then workstation_backends
    (GIVEN, by backend). A backend or setting the table does not have is refused: a typo
    would otherwise be ignored in silence."""
    table = {str(b["name"]): dict(b["settings"]) for b in backends if b.get("settings")}
    for name, values in given.items():
        if name not in table:
            raise AnsibleFilterError(
                f"workstation_backends has {name!r}, not a backend with settings"
                f" (one of {', '.join(table)})"
            )
        if not isinstance(values, dict) or set(values) - set(table[name]):
            raise AnsibleFilterError(
                f"workstation_backends.{name} takes a mapping of {', '.join(table[name])}"
            )
    return {
        name: {
            key: given.get(name, {}).get(key, legacy.get(f"workstation_{name}_{key}", default))
            for key, default in defaults.items()
        }
        for name, defaults in table.items()
    }


def workstation_unsafe_settings(settings: dict[str, dict[str, Any]]) -> list[str]:
    """workstation_backends.NAME.KEY for each setting the env file cannot hold (names only)."""
    return [
        f"workstation_backends.{name}.{key}"
        for name, values in settings.items()
        for key, value in values.items()
        if _UNSAFE.search(str(value))
    ]


def workstation_unsafe_vars(names: list[str], values: list[Any]) -> list[str]:
    """The NAMES whose value the env file format cannot hold (a double quote, $, backquote,
    backslash or newline). Only names come back: the values are secrets."""
    if len(names) != len(values):
        raise AnsibleFilterError(f"{len(names)} names but {len(values)} values")
    return [name for name, value in zip(names, values, strict=True) if _UNSAFE.search(str(value))]


def workstation_ca_problem(path: str) -> str:
    """Why the gateway's CA file PATH (on the controller, where filters run) cannot be
    used; empty when it can, or when no file is named (the system's trust store)."""
    if not path:
        return ""
    if not os.path.isfile(path):
        return (
            f"workstation_gateway_ca_file {path} does not exist on the controller (or is not a"
            " file): point it at the PEM CA certificate that signed the gateway's certificate"
            " (e.g. <inventory>/ccprov-ca/ca.crt from `ccprov ca init`), or leave it empty for"
            " the system's trust store"
        )
    with open(path, encoding="utf-8", errors="replace") as handle:
        if "-----BEGIN CERTIFICATE-----" not in handle.read():
            return (
                f"workstation_gateway_ca_file {path} holds no PEM certificate (-----BEGIN"
                " CERTIFICATE-----): point it at the PEM CA certificate that signed the"
                " gateway's certificate"
            )
    return ""


def _bool(value: Any) -> bool:
    """Ansible's truthiness for a flag that may arrive as a string ('true', 'no', '1')."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "workstation_enabled": workstation_enabled,
            "workstation_dirs": workstation_dirs,
            "workstation_home_dirs": workstation_home_dirs,
            "workstation_skill_templates": workstation_skill_templates,
            "workstation_skill_files": workstation_skill_files,
            "workstation_rc_blocks": workstation_rc_blocks,
            "workstation_claude_json": workstation_claude_json,
            "workstation_agent_home": workstation_agent_home,
            "workstation_env_inputs": workstation_env_inputs,
            "workstation_legacy_settings": workstation_legacy_settings,
            "workstation_backend_settings": workstation_backend_settings,
            "workstation_unsafe_settings": workstation_unsafe_settings,
            "workstation_unsafe_vars": workstation_unsafe_vars,
            "workstation_ca_problem": workstation_ca_problem,
        }
