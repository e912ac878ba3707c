"""macOS workstations, tested without a Mac (issue #31 item 2). The role's preflight on this
Debian and on given OS facts (its one line for an unsupported OS or release); its
templates rendered as on macOS (vars/Darwin.yml): the launchd agent read by plistlib, the
shell scripts checked by shellcheck as POSIX sh (bash for the sourced switcher), every
command they call on a list of tools macOS and Linux both have, and the switcher and the
vibe proxy's control script run for real under a PATH of only those tools (each a shim that
refuses GNU-only options and logs its call; getent, setsid, ss, ps and the like fail loudly)
in a sandbox whose /proc is empty. LiteLLM is a stand-in there
(tests/standins/litellm_health): the control script is under test, not LiteLLM."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, free_port
from tests.support import role_templates, shell_commands
from tests.support.pins import LITELLM

ROLE = REPO / "roles/workstation"
DARWIN = yaml.safe_load((ROLE / "vars/Darwin.yml").read_text())
STANDIN = REPO / "tests/standins/litellm_health/litellm_health_standin.py"
LAUNCHCTL = REPO / "tests/standins/launchctl/launchctl_standin.py"
MISTRAL_KEY = "sk-mistral-portable-0123456789"
PROXY = "home/.local/bin/ccprov-vibe-proxy.j2"

# POSIX.1-2017 utilities (XCU) the scripts may call; each is in macOS's base system too.
POSIX = {
    "cat", "chmod", "cksum", "cut", "dirname", "env", "grep", "head", "id", "kill", "mkdir",
    "mv", "printf", "rm", "sed", "sleep", "tail", "tr",
}  # fmt: skip
# Not POSIX, but in macOS's base system and on every Linux the role supports.
BOTH = {"mktemp"}
# Looked up with `command -v` first and never needed: lsof (macOS's base system; Linux when
# installed) and ss (Linux's iproute2) only name the program on a taken port.
OPTIONAL = {"lsof", "ss"}
# Each OS's service manager, called only in its own mode (systemd: Linux, launchd: macOS).
SERVICE = {"systemctl", "journalctl", "launchctl"}
# What the scripts run by a path the role wrote: the proxy's own Python, the control script.
ROLE_PATHS = {"$python", "$ctl"}
# Shims that fail loudly: Linux-only tools (and what reads /proc) a script must not need.
FORBIDDEN = {
    "getent", "setsid", "ss", "ps", "pgrep", "pkill", "fuser", "netstat", "stat", "readlink",
    "realpath", "timeout", "flock", "systemctl", "journalctl", "loginctl", "python3",
}  # fmt: skip
# GNU-only options per tool (the BSD tools of macOS refuse them or mean something else);
# every tool also refuses --long options.
GNU_ONLY = {
    "sed": ["-r", "-i", "-z", "-s", "-u"],
    "grep": ["-P", "-z"],
    "mktemp": ["-p", "-t"],
    "head": ["-c"],
    "tail": ["-c"],
}
SHIM = """#!/bin/sh
printf '%s\\n' "{name} $*" >>"{log}"
gnu() {{
  printf '%s\\n' "GNU-ONLY {name} $1" >>"{log}"
  echo "{name}: GNU-only option $1" >&2
  exit 64
}}
for a in "$@"; do
  case $a in
    --) ;;
    --* | {gnu}) gnu "$a" ;;
  esac
done
exec {real} "$@"
"""
REFUSE = """#!/bin/sh
printf '%s\\n' "FORBIDDEN {name} $*" >>"{log}"
echo "{name}: not on macOS (or reads /proc): a portable script must not call it" >&2
exit 127
"""


@dataclass(frozen=True)
class Rendered:
    home: Path
    port: int
    proxy: Path
    """ccprov-vibe-proxy, on-demand (macOS without a login session, or Linux without systemd)."""
    proxy_launchd: Path
    switch: Path
    plist: Path
    others: list[Path]
    """The wrappers and the aliases block, as rendered for macOS."""
    preflight: dict[str, dict[str, Any]]
    """CASES through the role's preflight: {'ok': False, 'msg': ...} or its family's vars."""
    mac_home: Path
    """A home the whole role set up as on macOS (a ~/.bash_profile there before)."""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Every workstation template the tests read, in one Ansible run, with macOS's variables,
    into a developer home under the test's temporary directory."""
    tmp = tmp_path_factory.mktemp("portable")
    home, port = tmp / "home", free_port()
    base = {
        **DARWIN,
        "workstation_user": "dev",
        "workstation_home": str(home),
        "workstation_local_base_url": "https://gateway.example",
        "workstation_local_token": "sk-local-0123456789",
        "workstation_vibe_proxy": True,
        "workstation_vibe_proxy_port": port,
        "workstation_vibe_proxy_health_timeout": 20,
        "workstation_vibe_mistral_api_key": MISTRAL_KEY,
        "__workstation_vibe_master_key": "sk-vibe-0123456789",
        "__workstation_vibe_mode": "on-demand",
        "workstation_opencode": True,
        "workstation_mistral_vibe": True,
        "__workstation_gateway_ca": True,
    }
    bin_dir, conf = home / ".local/bin", home / ".config/ccprov/vibe-proxy"
    plist = home / "Library/LaunchAgents/org.ccprov.vibe-proxy.plist"
    out = tmp / "other"
    launchd = {**base, "__workstation_vibe_mode": "launchd"}

    def job(template: str, dest: Path, variables: dict[str, Any] = base) -> role_templates.Job:
        return role_templates.Job("workstation", template, dest, variables)

    jobs = [
        job(PROXY, bin_dir / "ccprov-vibe-proxy"),
        job(PROXY, out / "ccprov-vibe-proxy-launchd", launchd),
        job("home/.local/bin/claude-switch.j2", bin_dir / "claude-switch"),
        job("home/.claude-backends.env.j2", home / ".claude-backends.env"),
        job("home/.config/ccprov/vibe-proxy/env.j2", conf / "env"),
        job("home/Library/LaunchAgents/ccprov-vibe-proxy.plist.j2", plist, launchd),
        job("home/.local/bin/opencode.j2", out / "opencode"),
        job("home/.local/bin/vibe.j2", out / "vibe"),
        job("home/shellrc-block.sh.j2", out / "shellrc-block.sh"),
    ]
    # The preflight cases ride along: one ansible-playbook start for the module.
    mac_home = tmp / "mac-home"
    mac_home.mkdir()
    (mac_home / ".bash_profile").write_text("# mine\n")
    plays = [_preflight_play(tmp), _mac_home_play(mac_home)]
    proc = role_templates.render(tmp / "work", jobs, extra_plays=plays)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    for script in (
        bin_dir / "ccprov-vibe-proxy",
        bin_dir / "claude-switch",
        out / "ccprov-vibe-proxy-launchd",
    ):
        script.chmod(0o755)
    (conf / "env").chmod(0o600)
    (conf / "config.yaml").write_text("model_list: []\n")
    # The proxy's venv as pinned_venv makes it: bin/python and bin/litellm (the stand-in).
    venv_bin = (
        home
        / ".local/share/ccprov/litellm"
        / str(_default("workstation_vibe_proxy_version"))
        / "bin"
    )
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    litellm = venv_bin / "litellm"
    litellm.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDIN} "$@"\n')
    litellm.chmod(0o755)
    return Rendered(
        home, port, bin_dir / "ccprov-vibe-proxy", out / "ccprov-vibe-proxy-launchd",
        bin_dir / "claude-switch", plist,
        [out / "opencode", out / "vibe", out / "shellrc-block.sh"],
        {name: json.loads((tmp / f"{name}.json").read_text()) for name in CASES},
        mac_home,
    )  # fmt: skip


# (distribution, version, family) as Ansible's facts name them; None: this machine's own.
FACT_VARS = (
    "__workstation_os_name",
    "__workstation_os_version",
    "__workstation_os_family",
    "__workstation_os_arch",
)
CASES: dict[str, tuple[str, str, str, str] | None] = {
    "here": None,
    "fedora": ("Fedora", "41", "RedHat", "x86_64"),
    "old-mac": ("MacOSX", "12.7.6", "Darwin", "arm64"),
    "mac": ("MacOSX", "14.5", "Darwin", "arm64"),
    "intel-mac": ("MacOSX", "15.1", "Darwin", "x86_64"),
    "sid": ("Debian", "n/a", "Debian", "x86_64"),
}
# What a case that passes reports: its family's vars, and the refusals that depend on them.
PASSED = (
    "{{ {'ok': true, 'npm': __workstation_os_npm, 'service': __workstation_os_service,"
    " 'opencode': __workstation_opencode_refusal, 'vibe_proxy': __workstation_vibe_proxy_refusal,"
    " 'mistral_vibe': __workstation_mistral_vibe_refusal}"
    " | to_json }}"
)


FAILED = "{{ {'ok': false, 'msg': ansible_failed_result.msg} | to_json }}"


def _preflight_play(tmp: Path) -> dict[str, Any]:
    """Each case through the role's preflight.yml (include_role, the OS facts given as
    include parameters over the gathered ones), writing its failure message or the loaded
    family vars to TMP/<case>.json."""
    tasks: list[dict[str, Any]] = []
    for name, facts in CASES.items():
        given = {} if facts is None else dict(zip(FACT_VARS, facts, strict=True))
        out = str(tmp / f"{name}.json")
        tasks.append(
            {
                "name": f"Case {name}",
                "block": [
                    {
                        "ansible.builtin.include_role": {
                            "name": str(ROLE),
                            "tasks_from": "preflight",
                            "public": True,  # its vars/main.yml for the report below
                        },
                        "vars": given,
                    },
                    {
                        "ansible.builtin.copy": {
                            "content": PASSED,
                            "dest": out,
                            "mode": "0600",
                        },
                        "vars": given,
                    },
                ],
                "rescue": [
                    {
                        "ansible.builtin.copy": {
                            "content": FAILED,
                            "dest": out,
                            "mode": "0600",
                        }
                    }
                ],
            }
        )
    play = {
        "name": "Preflight cases",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {
            "workstation_local_base_url": "https://gateway.example",
            "workstation_local_token": "sk-local-0123456789",
            "workstation_opencode": True,
            "workstation_vibe_proxy": True,
        },
        "tasks": tasks,
    }
    return play


def _mac_home_play(home: Path) -> dict[str, Any]:
    """The whole role on this machine's account as on macOS 14 (arm64), into HOME."""
    return {
        "name": "The role as on macOS",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {
                "ansible.builtin.include_role": {"name": str(ROLE)},
                "vars": {
                    **dict(zip(FACT_VARS, CASES["mac"] or (), strict=True)),
                    "workstation_home": str(home),
                    "workstation_local_base_url": "https://gateway.example",
                    "workstation_local_token": "sk-local-0123456789",
                },
            }
        ],
    }


def _default(name: str) -> object:
    return yaml.safe_load((ROLE / "defaults/main.yml").read_text())[name]


# --- The preflight ----------------------------------------------------------------------------


def test_this_debian_passes_with_its_family_vars(rendered: Rendered) -> None:
    # This machine's own facts (x86_64): OpenCode's Linux build is pinned, LiteLLM installs.
    assert rendered.preflight["here"] == {
        "ok": True, "service": "systemd", "npm": "linux", "opencode": "", "vibe_proxy": "",
        "mistral_vibe": "",
    }  # fmt: skip


def test_an_apple_silicon_mac_gets_launchd_and_no_unpinned_opencode(rendered: Rendered) -> None:
    assert rendered.preflight["mac"] == {
        "ok": True,
        "service": "launchd",
        "npm": "darwin",
        "opencode": (
            "No OpenCode build is pinned for darwin-arm64 (macOS on arm64): add `darwin-arm64:"
            " {package: opencode-darwin-arm64, sha512: ...}` to workstation_opencode_builds (the"
            " sha512 in hex: `npm view opencode-darwin-arm64@1.18.33 dist.integrity`,"
            " base64-decoded), or leave OpenCode out."
        ),
        "vibe_proxy": "",
        "mistral_vibe": "",
    }


def test_an_intel_mac_is_refused_the_locked_python_tools_in_one_line(rendered: Rendered) -> None:
    result = rendered.preflight["intel-mac"]
    assert result["ok"] is True and result["opencode"].startswith(
        "No OpenCode build is pinned for darwin-x64 (macOS on x86_64)"
    )
    assert result["vibe_proxy"] == (
        f"The vibe proxy needs litellm {LITELLM}, whose hash lock has no macOS wheels of every"
        " package for x86_64 (only arm64): leave --vibe out on this machine, or pin a litellm"
        " release whose lock has them."
    )
    assert result["mistral_vibe"].startswith(
        "Mistral Vibe needs mistral-vibe 3.0.2, whose hash lock has no macOS wheels of every"
        " package for x86_64 (only arm64): leave --agent mistral-vibe out"
    )


@pytest.mark.parametrize(
    ("case", "seen"),
    [("fedora", "Fedora 41 (RedHat family)"), ("old-mac", "macOS 12.7.6 (Darwin family)"),
     ("sid", "Debian n/a (Debian family)")],
)  # fmt: skip
def test_an_unsupported_os_is_one_line_naming_what_is(
    rendered: Rendered, case: str, seen: str
) -> None:
    result = rendered.preflight[case]
    assert result["ok"] is False
    assert result["msg"] == (
        "ccprov's workstation role supports Debian >= 12, Ubuntu >= 22.04, macOS >= 13;"
        f" localhost runs {seen}: use a supported system, or set up Claude Code there by hand"
        ' (README, "What a developer gets").'
    )


def test_a_macos_login_bash_gets_the_aliases(rendered: Rendered) -> None:
    """Terminal.app starts login shells, and a login bash reads ~/.bash_profile, never
    ~/.bashrc: the role put the block there too, the developer's line kept."""
    profile = (rendered.mac_home / ".bash_profile").read_text()
    assert profile.startswith("# mine\n")
    assert "# BEGIN ccprov managed block" in profile
    proc = subprocess.run(
        ["bash", "--login", "-c", "alias cc-local; command -v claude-switch"],
        env={"HOME": str(rendered.mac_home), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "alias cc-local='source claude-switch local && claude " in proc.stdout
    assert proc.stdout.strip().endswith(f"{rendered.mac_home}/.local/bin/claude-switch")


# --- The rendered files -----------------------------------------------------------------------


def test_the_launchd_agent_runs_the_control_script_and_holds_no_key(rendered: Rendered) -> None:
    text = rendered.plist.read_text()
    agent = plistlib.loads(text.encode())
    control = str(rendered.home / ".local/bin/ccprov-vibe-proxy")
    state = str(rendered.home / ".local/state/ccprov")
    assert agent == {
        "Label": "org.ccprov.vibe-proxy",
        "ProgramArguments": ["/bin/sh", control, "run"],
        "WorkingDirectory": state,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 5,
        "Umask": 0o077,
        "StandardOutPath": f"{state}/vibe-proxy.log",
        "StandardErrorPath": f"{state}/vibe-proxy.log",
    }
    assert MISTRAL_KEY not in text and "sk-vibe-" not in text


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed")
def test_the_scripts_pass_shellcheck_as_posix_sh(rendered: Rendered) -> None:
    posix = [rendered.proxy, rendered.proxy_launchd, *rendered.others[:2]]
    for script in posix:
        assert script.read_text().startswith("#!/bin/sh\n"), script
    proc = subprocess.run(
        ["shellcheck", "--shell=sh", *map(str, posix)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout
    # Sourced by bash (macOS: 3.2) and zsh: checked as bash, the dialect they share here.
    sourced = [rendered.switch, rendered.others[2]]
    proc = subprocess.run(
        ["shellcheck", "--shell=bash", *map(str, sourced)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_every_command_the_scripts_call_is_on_the_portable_list(rendered: Rendered) -> None:
    home_installs = str(rendered.home / ".local/share/ccprov") + "/"
    allowed = POSIX | BOTH | OPTIONAL | SERVICE | ROLE_PATHS
    for script in [rendered.proxy, rendered.proxy_launchd, rendered.switch, *rendered.others]:
        text = script.read_text()
        called = {c for c in shell_commands.external(text) if not c.startswith(home_installs)}
        assert called <= allowed, f"{script.name} calls {sorted(called - allowed)}"
        code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in code if "/proc" in line], script.name
        for tool in OPTIONAL:
            if tool in called:
                assert f"command -v {tool} " in text, f"{script.name} calls {tool} unguarded"
    # The scanner finds what it must (not an empty set that passes anything).
    proxy = shell_commands.external(rendered.proxy.read_text())
    assert {"sed", "tail", "mkdir", "launchctl", "$python"} <= proxy


# --- Run under a portable PATH, without /proc -------------------------------------------------


@dataclass
class Sandbox:
    home: Path
    path: Path
    log: Path

    def run(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def command(self, *argv: str) -> list[str]:
        # A new mount namespace (in a user namespace: no privilege needed) whose /proc is an
        # empty read-only tmpfs; the environment is only HOME and the shims' PATH.
        inner = (
            "home=$1 path=$2; shift 2; mount -t tmpfs -o ro tmpfs /proc &&"
            ' exec /usr/bin/env -i HOME="$home" PATH="$path" "$@"'
        )
        return [
            "unshare", "--user", "--map-root-user", "--mount", "/bin/sh", "-c", inner, "sandbox",
            str(self.home), str(self.path), *argv,
        ]  # fmt: skip

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def _sandbox_works() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "/bin/sh", "-c",
         "mount -t tmpfs -o ro tmpfs /proc && ! test -e /proc/self"],
        capture_output=True, check=False,
    )  # fmt: skip
    return probe.returncode == 0


@pytest.fixture(scope="module")
def sandbox(rendered: Rendered, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    if not _sandbox_works():
        pytest.skip("no unprivileged user and mount namespaces here (unshare)")
    tmp = tmp_path_factory.mktemp("shims")
    shims, log = tmp / "bin", tmp / "calls.log"
    shims.mkdir()
    for name in POSIX | BOTH | {"lsof"}:
        real = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
        if real is None:
            continue
        gnu = "|".join(GNU_ONLY.get(name, [])) or "--never--"
        _write_exec(shims / name, SHIM.format(name=name, log=log, real=real, gnu=gnu))
    for name in FORBIDDEN:
        _write_exec(shims / name, REFUSE.format(name=name, log=log))
    # macOS's launchctl: a stand-in (tests/standins/launchctl), its state under TMP.
    _write_exec(
        shims / "launchctl",
        f'#!/bin/sh\nprintf \'%s\\n\' "launchctl $*" >>"{log}"\n'
        f'exec {sys.executable} {LAUNCHCTL} {tmp / "launchd"} "$@"\n',
    )
    box = Sandbox(rendered.home, shims, log)
    yield box
    box.run(str(rendered.proxy), "stop")


def _write_exec(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(stat.S_IRWXU)


def _shells() -> list[str]:
    return [s for s in ("bash", "zsh") if shutil.which(s)]


def test_the_switcher_starts_the_proxy_once_without_proc(
    rendered: Rendered, sandbox: Sandbox
) -> None:
    starts = rendered.home / ".config/ccprov/vibe-proxy/standin-starts"
    url = f"http://127.0.0.1:{rendered.port}"
    for shell in _shells():
        proc = sandbox.run(
            shutil.which(shell) or shell, "-c",
            '. "$HOME/.local/bin/claude-switch" vibe && echo "url=$ANTHROPIC_BASE_URL"',
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"url={url}" in proc.stdout
    # Started once (by the first shell), with the key from its env file; then found running.
    assert starts.read_text().split()[1:] == ["yes"], starts.read_text()
    pid = int(starts.read_text().split()[0])
    # In its own session (what setsid did): closing the starting terminal does not stop it.
    assert os.getsid(pid) == pid
    status = sandbox.run(str(rendered.proxy), "status")
    assert f"vibe proxy: running, healthy (on-demand) on {url}" in status.stdout
    _assert_portable_calls(sandbox)


def test_two_starts_at_once_make_one_proxy(rendered: Rendered, sandbox: Sandbox) -> None:
    starts = rendered.home / ".config/ccprov/vibe-proxy/standin-starts"
    assert sandbox.run(str(rendered.proxy), "stop").returncode == 0
    before = starts.read_text().splitlines() if starts.exists() else []
    both = [
        subprocess.Popen(sandbox.command(str(rendered.proxy), "ensure"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    results = [p.communicate(timeout=60) for p in both]
    assert [p.returncode for p in both] == [0, 0], results
    assert len(starts.read_text().splitlines()) == len(before) + 1
    stopped = sandbox.run(str(rendered.proxy), "stop")
    assert stopped.stdout.startswith("ccprov-vibe-proxy: stopped (pid "), stopped.stdout
    assert "stopped (on-demand)" in sandbox.run(str(rendered.proxy), "status").stdout
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", rendered.port)) != 0, "still listening"
    _assert_portable_calls(sandbox)


def test_a_taken_port_is_named_and_nothing_is_killed(rendered: Rendered, sandbox: Sandbox) -> None:
    sandbox.run(str(rendered.proxy), "stop")
    squatter = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(rendered.port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_listening(rendered.port, squatter)
        proc = sandbox.run(str(rendered.proxy), "ensure")
        assert proc.returncode == 1
        # Without /proc, lsof cannot name it: the line says how to look, and stops nothing.
        assert f"port {rendered.port} is taken by another program (see: lsof -nP" in proc.stderr
        assert "nothing was stopped" in proc.stderr
        assert squatter.poll() is None, "the other program was killed"
    finally:
        squatter.terminate()
        squatter.wait(timeout=10)
    _assert_portable_calls(sandbox)


def test_launchd_runs_it_in_the_foreground_and_a_second_run_refuses(
    rendered: Rendered, sandbox: Sandbox
) -> None:
    """`ccprov-vibe-proxy run`, as the launchd agent starts it: in the foreground (launchd
    tracks that process), holding the lock, so the script's launchd mode sees it running."""
    sandbox.run(str(rendered.proxy), "stop")
    first = subprocess.Popen(
        sandbox.command(str(rendered.proxy_launchd), "run"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_listening(rendered.port, first)
        status = sandbox.run(str(rendered.proxy_launchd), "status")
        assert "vibe proxy: running, healthy (launchd)" in status.stdout
        second = sandbox.run(str(rendered.proxy_launchd), "run")
        assert second.returncode == 75  # the lock is taken: no second proxy
        assert first.poll() is None
    finally:
        first.terminate()
        first.wait(timeout=10)
    _assert_portable_calls(sandbox)


def test_launchd_mode_loads_the_agent_and_unloads_it_on_stop(
    rendered: Rendered, sandbox: Sandbox
) -> None:
    """The script's launchd branch against a launchctl stand-in: `ensure` finds the agent
    not loaded (kickstart fails), bootstraps it and waits for the lock; `stop` boots it out,
    so KeepAlive cannot bring it back."""
    sandbox.run(str(rendered.proxy), "stop")
    starts = rendered.home / ".config/ccprov/vibe-proxy/standin-starts"
    before = len(starts.read_text().splitlines()) if starts.exists() else 0
    proxy = str(rendered.proxy_launchd)
    first = sandbox.run(proxy, "ensure")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "starting LiteLLM" in first.stderr and "(launchd)" in first.stderr
    again = sandbox.run(proxy, "ensure")
    assert again.returncode == 0 and "starting" not in again.stderr
    assert len(starts.read_text().splitlines()) == before + 1
    assert "running, healthy (launchd)" in sandbox.run(proxy, "status").stdout
    stopped = sandbox.run(proxy, "stop")
    assert stopped.stdout.startswith("ccprov-vibe-proxy: stopped (pid "), stopped.stdout
    assert "stopped (launchd)" in sandbox.run(proxy, "status").stdout
    assert sandbox.run("launchctl", "print", "gui/0/org.ccprov.vibe-proxy").returncode != 0
    calls = [c.split()[:2] for c in sandbox.calls() if c.startswith("launchctl")]
    assert ["launchctl", "bootstrap"] in calls and ["launchctl", "bootout"] in calls
    _assert_portable_calls(sandbox)


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert proc.poll() is None and time.monotonic() < deadline, "it never listened"
        time.sleep(0.05)


def _assert_portable_calls(sandbox: Sandbox) -> None:
    calls = sandbox.calls()
    assert calls, "no command went through the shims"
    bad = [c for c in calls if c.startswith(("FORBIDDEN", "GNU-ONLY"))]
    assert not bad, bad
