"""`ccprov workstation`: onboard one developer (this machine, or USER@HOST over SSH)."""

from __future__ import annotations

import getpass
import os
import pwd
import shlex
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ccprov import runner
from ccprov.errors import UsageProblem
from ccprov.workstation import probe
from ccprov.workstation.envfile import mask

SHELL_CHOICES = ("bash", "zsh", "all")


class Console(Protocol):
    """How the set-up talks to the person running it (the CLI gives its terminal)."""

    def echo(self, message: str = "", err: bool = False) -> None: ...

    def prompt(self, text: str, hide_input: bool = False) -> str: ...

    def confirm(self, text: str, default: bool = True) -> bool: ...


@dataclass
class Target:
    host: str | None
    ssh_user: str | None
    account: str

    @property
    def local(self) -> bool:
        return self.host is None

    def describe(self) -> str:
        return f"{self.account} on this machine" if self.local else f"{self.account} on {self.host}"


def parse_target(host: str | None, user: str | None) -> Target:
    if not host or host in ("localhost", "local"):
        return Target(None, None, user or getpass.getuser())
    ssh_user, _, hostname = host.rpartition("@")
    if not hostname:
        raise UsageProblem(f"--host '{host}' has no host name; use USER@HOST or HOST")
    return Target(hostname, ssh_user or None, user or ssh_user or "")


def check_url(url: str, option: str, example: str, key_option: str) -> str:
    """URL without surrounding blanks or trailing /, or a one-line error naming OPTION.
    The URL is shown only when it holds no user name or password."""
    url = url.strip()
    problem = probe.url_problem(url)
    if problem is None:
        return url.rstrip("/")
    if "@" in url:
        raise UsageProblem(
            f"{option} {problem}; pass the key with {key_option}, e.g. {option} {example}"
        )
    raise UsageProblem(f"{option} '{probe.shown_url(url)}' {problem}; e.g. {option} {example}")


def check_base_url(url: str) -> str:
    url = check_url(
        url, "--base-url", "https://llm-gateway.example.org", "--token-file or --token-stdin"
    )
    if urlsplit(url).path.rstrip("/").endswith("/v1"):
        raise UsageProblem(
            f"--base-url '{url}' ends in /v1; pass the gateway's root URL"
            " (Claude Code adds /v1/messages)"
        )
    return url


def check_model(model: str) -> str:
    if not model or any(c.isspace() for c in model):
        raise UsageProblem(f"--model '{model}' must be the served model name, without spaces")
    return model


def is_tty() -> bool:
    return sys.stdin.isatty()


def resolve_base_url(value: str | None, console: Console) -> str:
    if value:
        return check_base_url(value)
    if is_tty():
        return check_base_url(console.prompt("Gateway URL (e.g. https://llm-gateway.example.org)"))
    raise UsageProblem("no gateway URL: pass --base-url URL (or set CCPROV_BASE_URL)")


def resolve_token(token_file: Path | None, token_stdin: bool, console: Console) -> str:
    if token_file and token_stdin:
        raise UsageProblem("use either --token-file or --token-stdin, not both")
    if token_stdin:
        try:
            token = sys.stdin.readline(2 * MAX_KEY_CHARS + 2).strip()
        except UnicodeDecodeError:
            raise UsageProblem("--token-stdin read bytes that are not UTF-8 text") from None
        if not token:
            raise UsageProblem("--token-stdin read an empty line; pipe the gateway key in")
        return token
    if token_file:
        return read_key_file(token_file, "--token-file", "the gateway key", console)
    from_env = os.environ.get("CCPROV_TOKEN", "").strip()
    if from_env:
        return from_env
    if is_tty():
        token = console.prompt("Your gateway key", hide_input=True).strip()
        if token:
            return token
    raise UsageProblem(
        "no gateway key: pass --token-file PATH or --token-stdin (or set CCPROV_TOKEN)"
    )


MAX_KEY_CHARS = 4096


def read_key_file(path: Path, option: str, what: str, console: Console) -> str:
    """The one line of a key file given as OPTION, or a one-line error. A file others can
    read is still used, with a warning naming the fix."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            # A little over the limit: enough to tell "too long" without reading a huge file.
            raw = handle.read(2 * MAX_KEY_CHARS + 2)
    except OSError as exc:
        raise UsageProblem(f"cannot read {option} {path}: {exc.strerror}") from None
    if len(raw.strip()) > MAX_KEY_CHARS:
        raise UsageProblem(
            f"{option} {path} is longer than {MAX_KEY_CHARS} bytes: not a key; check the file"
        )
    try:
        key = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UsageProblem(
            f"{option} {path} is not UTF-8 text: it must hold {what} on one line"
        ) from None
    if not key or "\n" in key:
        raise UsageProblem(f"{option} {path} must hold exactly one line: {what}")
    if stat.S_ISREG(mode) and mode & 0o044:
        console.echo(
            f"warning: {option} {path} can be read by other users (mode"
            f" {stat.S_IMODE(mode):04o}); run: chmod 600 {shlex.quote(str(path))}",
            err=True,
        )
    return key


def check_key_chars(key: str, what: str, hint: str) -> str:
    """Keys go into env files as KEY="value": no spaces, quotes, $, backquotes, backslashes,
    and at most MAX_KEY_CHARS (every shell that sources the env file reads it)."""
    if len(key) > MAX_KEY_CHARS:
        raise UsageProblem(f"{what} is longer than {MAX_KEY_CHARS} characters; {hint}")
    if set('"$`\\') & set(key) or any(c.isspace() or not c.isprintable() for c in key):
        raise UsageProblem(f'{what} contains spaces, control characters or one of " $ ` \\; {hint}')
    return key


def check_token(token: str) -> str:
    return check_key_chars(token, "the gateway key", "check you copied the right key")


@dataclass(frozen=True)
class VibeOptions:
    """--vibe and its inputs: the loopback LiteLLM proxy to the Mistral API."""

    enabled: bool = False
    key_file: Path | None = None
    api_base: str = "https://api.mistral.ai/v1"
    port: int = 4000


def resolve_mistral_key(key_file: Path | None, console: Console) -> str:
    if key_file:
        key = read_key_file(key_file, "--mistral-key-file", "the Mistral API key", console)
    else:
        key = os.environ.get("MISTRAL_API_KEY", "").strip()
        if not key and is_tty():
            key = console.prompt("Your Mistral API key (for cc-vibe)", hide_input=True).strip()
        if not key:
            raise UsageProblem(
                "--vibe needs your Mistral API key: pass --mistral-key-file PATH"
                " (or set MISTRAL_API_KEY)"
            )
    return check_key_chars(key, "the Mistral API key", "check you copied it right")


def vibe_vars(options: VibeOptions, console: Console) -> dict[str, Any]:
    if not options.enabled:
        return {}
    api_base = check_url(
        options.api_base, "--mistral-api-base", "https://api.mistral.ai/v1", "--mistral-key-file"
    )
    return {
        "workstation_vibe_proxy": True,
        "workstation_vibe_mistral_api_key": resolve_mistral_key(options.key_file, console),
        "workstation_vibe_mistral_api_base": api_base,
        "workstation_vibe_proxy_port": options.port,
    }


def agent_vars(agents: tuple[str, ...], vibe_python: str | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "workstation_opencode": "opencode" in agents,
        "workstation_mistral_vibe": "mistral-vibe" in agents,
    }
    if vibe_python:
        if "mistral-vibe" not in agents:
            raise UsageProblem("--vibe-python is for --agent mistral-vibe; add that option")
        extra["workstation_mistral_vibe_python"] = vibe_python
    return extra


MAX_CA_BYTES = 1024 * 1024
PEM_CERT = b"-----BEGIN CERTIFICATE-----"


def check_ca_file(path: Path) -> str:
    """The absolute path of a readable PEM CA bundle given as --ca-file, or a one-line error.
    Each certificate in it must parse (a bundle the agents half-read is worse than none)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CA_BYTES + 1)
    except OSError as exc:
        raise UsageProblem(
            f"cannot read --ca-file {path}: {exc.strerror}; pass the gateway's CA certificate"
            " (PEM), e.g. --ca-file inventories/<env>/ccprov-ca/ca.crt"
        ) from None
    if len(data) > MAX_CA_BYTES:
        raise UsageProblem(f"--ca-file {path} is larger than 1 MiB: not a CA certificate")
    if PEM_CERT not in data:
        raise UsageProblem(
            f"--ca-file {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); pass"
            " the CA certificate that signed the gateway's, e.g."
            " --ca-file inventories/<env>/ccprov-ca/ca.crt"
        )
    import ssl

    try:
        ssl.create_default_context(cadata=data.decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError):
        raise UsageProblem(
            f"--ca-file {path} is not a valid PEM certificate bundle; pass the CA certificate"
            " that signed the gateway's, e.g. --ca-file inventories/<env>/ccprov-ca/ca.crt"
        ) from None
    return str(path.resolve())


def build_inventory(target: Target) -> dict[str, Any]:
    if target.local:
        host_vars: dict[str, Any] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
        }
        name = "localhost"
        if target.account != getpass.getuser():
            # Steps that write into another account's home run as that account: root
            # becomes it (su where sudo is not installed), and that account must be able to
            # run the interpreter (ccprov's own may sit in root's private home).
            host_vars["ansible_become_method"] = "sudo" if shutil.which("sudo") else "su"
            if Path("/usr/bin/python3").exists():
                host_vars["ansible_python_interpreter"] = "/usr/bin/python3"
    else:
        host_vars = {"ansible_host": target.host}
        if target.ssh_user:
            host_vars["ansible_user"] = target.ssh_user
        if target.account and target.ssh_user and target.account != target.ssh_user:
            host_vars["ansible_become"] = True
        name = str(target.host)
    return {"workstations": {"hosts": {name: host_vars}}}


def build_vars(
    target: Target, base_url: str, token: str, model: str, shell: str | None
) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "workstation_local_base_url": base_url,
        "workstation_local_token": token,
        "workstation_local_model": model,
    }
    if target.local:
        extra["workstation_user"] = target.account
        entry = pwd.getpwnam(target.account)
        # Honour $HOME for yourself (a fresh HOME in tests, a moved home directory).
        home = Path.home() if target.account == getpass.getuser() else Path(entry.pw_dir)
        extra["workstation_home"] = str(home)
        # Without --shell the role's default applies (the login shell's rc file plus every
        # other existing one): home_files decides that on the host, nothing to look up here.
    elif target.account:
        extra["workstation_user"] = target.account
    if shell:
        extra["workstation_shells"] = ["bash", "zsh"] if shell == "all" else [shell]
    return extra


def local_account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass(frozen=True)
class WorkstationRequest:
    """What `ccprov workstation` was asked to do, as given on the command line."""

    host: str | None = None
    """USER@HOST to set up over SSH; None (or localhost): this machine."""
    user: str | None = None
    """The account to set up (default: you locally, or the SSH login)."""
    base_url: str | None = None
    """The gateway's root URL; None: prompted for on a terminal."""
    token_file: Path | None = None
    token_stdin: bool = False
    model: str = "devstral"
    shell: str | None = None
    """bash, zsh or all; None: the role's default (login shell + existing rc files)."""
    vibe: VibeOptions = field(default_factory=VibeOptions)
    agents: tuple[str, ...] = ()
    vibe_python: str | None = None
    ca_file: Path | None = None
    check: bool = False
    verify: bool = True
    yes: bool = False
    verbose: int = 0


def run(request: WorkstationRequest, console: Console) -> int:
    """Set up the workstation; the exit status (0 done, 1 failed or declined, 3 the live
    check failed). Bad input raises UsageProblem, a stop signal runner.Interrupted."""
    target = parse_target(request.host, request.user)
    if target.local and not local_account_exists(target.account):
        raise UsageProblem(f"--user '{target.account}' is not an account on this machine")
    if target.local and target.account != getpass.getuser() and os.geteuid() != 0:
        raise UsageProblem(f"setting up '{target.account}' needs root: run it with sudo")
    url = resolve_base_url(request.base_url, console)
    model = check_model(request.model)
    token = check_token(resolve_token(request.token_file, request.token_stdin, console))
    shell, agents, check = request.shell, request.agents, request.check
    extra = build_vars(target, url, token, model, shell)
    extra.update(vibe_vars(request.vibe, console))
    extra.update(agent_vars(agents, request.vibe_python))
    ca_path = check_ca_file(request.ca_file) if request.ca_file else ""
    if ca_path:
        extra["workstation_gateway_ca_file"] = ca_path

    echo = console.echo
    echo(f"ccprov workstation: Claude Code for {target.describe()}")
    echo(f"  gateway {url}  model {model}  key {mask(token)}")
    if extra.get("workstation_vibe_proxy"):
        echo(
            f"  vibe proxy 127.0.0.1:{extra['workstation_vibe_proxy_port']} ->"
            f" {extra['workstation_vibe_mistral_api_base']}"
            f"  Mistral key {mask(extra['workstation_vibe_mistral_api_key'])}"
        )
    if ca_path:
        echo(f"  gateway CA {ca_path}")
    if agents:
        echo(f"  agents: {', '.join(agents)}")
    if not request.yes and is_tty() and not check and not console.confirm("Proceed?"):
        echo("Nothing changed.")
        return 1
    if check:
        echo("  dry run (--check): nothing will be written")

    summary = runner.run_playbook(
        "workstations.yml",
        build_inventory(target),
        extra,
        check=check,
        verbose=request.verbose,
        local=target.local,
    )
    if not summary.succeeded:
        reason = summary.failures[0]["msg"] if summary.failures else "see the output above"
        echo(f"Setup failed: {reason}", err=True)
        return 1
    verb = "would change" if check else "changed"
    echo(
        f"Done in {summary.seconds:.1f}s: {summary.changed} {verb}, {summary.ok} already right"
        + (" (no change)" if summary.changed == 0 else "")
    )
    if check:
        return 0

    if request.verify:
        echo(f"Checking {url}/v1/messages with your key (model {model}) ...")
        # The CA given is the one the role installed (LOCAL_CA_CERT); else the system's.
        result = probe.send_message(url, token, model, ca_file=ca_path)
        if not result.ok:
            echo(f"  live check failed: {result.detail}", err=True)
            echo(
                "  The setup is written; fix the above and check again with `ccprov status`.",
                err=True,
            )
            return 3
        echo(f"  the model answered in {result.latency_ms:.0f} ms: {result.detail!r}")
    else:
        echo("Live check skipped (--no-verify); run `ccprov status` to check the gateway.")

    echo("Next: open a new terminal, or run")
    echo(f"  {next_step(target, shell)}")
    return 0


def next_step(target: Target, shell: str | None) -> str:
    """How the developer loads the aliases: their shell's rc file."""
    if shell in ("bash", "zsh"):
        return f"source ~/.{shell}rc && cc-local"
    if target.local:
        login = Path(pwd.getpwnam(target.account).pw_shell).name
        return f"source ~/.{'zsh' if login == 'zsh' else 'bash'}rc && cc-local"
    return "source ~/.bashrc && cc-local   (zsh: source ~/.zshrc && cc-local)"
