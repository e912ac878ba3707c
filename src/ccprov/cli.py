"""The ccprov command line: the only module that knows click. The domain modules return
data and raise CcprovError; here their results are printed and their errors reported.
Heavy modules are imported inside commands so --help is fast."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from ccprov import __version__
from ccprov.errors import CcprovError
from ccprov.workstation import envfile

F = TypeVar("F", bound=Callable[..., Any])


def _report(exc: CcprovError, ctx: click.Context) -> NoReturn:
    """Hand EXC to click: a usage error (usage line, exit 2), a plain `ccprov COMMAND:
    message` line, or click's `Error: message`."""
    if exc.usage:
        raise click.UsageError(exc.message, ctx) from None
    if exc.plain:
        # The terminal may be gone (SIGHUP): the exit status still tells.
        with contextlib.suppress(OSError):
            click.echo(f"ccprov {ctx.info_name}: {exc.message}", err=True)
        raise click.exceptions.Exit(exc.exit_code) from None
    error = click.ClickException(exc.message)
    error.exit_code = exc.exit_code  # type: ignore[misc]  # a ClassVar in click's stubs
    raise error from None


class _Command(click.Command):
    """A command whose CcprovErrors click reports (see _report)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CcprovError as exc:
            _report(exc, ctx)


class _Group(click.Group):
    command_class = _Command
    group_class = type  # subgroups are _Groups too


def _echo_all(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(line)


class _Terminal:
    """workstation.Console on click: prompts and confirmations on the terminal."""

    def echo(self, message: str = "", err: bool = False) -> None:
        click.echo(message, err=err)

    def prompt(self, text: str, hide_input: bool = False) -> str:
        return str(click.prompt(text, hide_input=hide_input))

    def confirm(self, text: str, default: bool = True) -> bool:
        return click.confirm(text, default=default)


def _inventory_option(help_text: str, required: bool = True) -> Callable[[F], F]:
    """`-i/--inventory` (a path), as every inventory-reading command takes it."""
    return click.option(
        "-i",
        "--inventory",
        "inventory_path",
        type=click.Path(path_type=Path),
        required=required,
        help=help_text,
    )


def _fleet_options(hosts: str, prefix: str = "") -> Callable[[F], F]:
    """--limit, --forks and --accept-new-host-keys, as the commands that reach an inventory's
    HOSTS over SSH take them; PREFIX (e.g. "With -i: ") when -i is optional."""

    def sentence(text: str) -> str:
        return prefix + (text[0].lower() if prefix else text[0].upper()) + text[1:]

    def apply(command: F) -> F:
        for option in reversed(
            (
                click.option(
                    "--limit",
                    metavar="PATTERN",
                    help=sentence(f"only {hosts} matching this pattern."),
                ),
                click.option(
                    "--forks",
                    default=25,
                    show_default=True,
                    help=sentence(f"{hosts} checked at once."),
                ),
                click.option(
                    "--accept-new-host-keys",
                    is_flag=True,
                    help=sentence(
                        "add an unknown host's SSH key to ~/.ssh/known_hosts instead of"
                        " skipping the host (a changed key is always refused)."
                    ),
                ),
            )
        ):
            command = option(command)
        return command

    return apply


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ccprov")
def cli() -> None:
    """Provision Claude Code on self-hosted models: GPU hosts (vLLM), the gateway (LiteLLM)
    and developer workstations (claude-switch, cc-local)."""


@cli.command()
@click.option(
    "--host",
    metavar="USER@HOST",
    help="Set up this host over SSH instead of this machine (the user is the SSH login).",
)
@click.option(
    "--user",
    metavar="NAME",
    help="Account to set up (default: you locally, or the SSH login). Another account needs root.",
)
@click.option(
    "--base-url",
    envvar="CCPROV_BASE_URL",
    metavar="URL",
    help="The gateway's root URL, e.g. https://llm-gateway.example.org [env: CCPROV_BASE_URL].",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PATH",
    help="File holding your gateway key (one line). Keys never go on the command line.",
)
@click.option(
    "--token-stdin",
    is_flag=True,
    help="Read the gateway key from standard input. Otherwise $CCPROV_TOKEN, or a hidden prompt.",
)
@click.option(
    "--model",
    envvar="CCPROV_MODEL",
    default="devstral",
    show_default=True,
    help="Model name the gateway serves [env: CCPROV_MODEL].",
)
@click.option(
    "--shell",
    type=click.Choice(["bash", "zsh", "all"]),
    help="Shell rc files that get the cc aliases (default: login shell + existing rc files).",
)
@click.option(
    "--vibe",
    is_flag=True,
    help="Also run the loopback LiteLLM proxy to the Mistral API for cc-vibe (127.0.0.1 only).",
)
@click.option(
    "--mistral-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PATH",
    help="With --vibe: file holding your Mistral API key. Otherwise $MISTRAL_API_KEY, or a"
    " hidden prompt.",
)
@click.option(
    "--mistral-api-base",
    envvar="CCPROV_MISTRAL_API_BASE",
    default="https://api.mistral.ai/v1",
    show_default=True,
    metavar="URL",
    help="With --vibe: the Mistral API the proxy calls [env: CCPROV_MISTRAL_API_BASE].",
)
@click.option(
    "--vibe-port",
    type=click.IntRange(1, 65535),
    default=4000,
    show_default=True,
    help="With --vibe: the proxy's loopback port.",
)
@click.option(
    "--agent",
    "agents",
    multiple=True,
    type=click.Choice(["opencode", "mistral-vibe"]),
    help="Install a local CLI agent on the gateway's model for the vibe-orchestrator skill"
    " (repeatable). mistral-vibe needs Python >= 3.12.",
)
@click.option(
    "--vibe-python",
    metavar="PATH",
    help="With --agent mistral-vibe: a Python >= 3.12 to build its venv with (default python3).",
)
@click.option(
    "--ca-file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="PATH",
    help="PEM CA certificate the gateway's TLS certificate chains to (e.g. the inventory's"
    " ccprov-ca/ca.crt from `ccprov ca init`): installed as ~/.config/ccprov/gateway-ca.pem"
    " and used by cc-local, OpenCode and Mistral Vibe. Default: the system's trust store.",
)
@click.option("--check", is_flag=True, help="Dry run: show what would change, write nothing.")
@click.option(
    "--no-verify",
    "no_verify",
    is_flag=True,
    help="Skip the live 'Say OK' request to the gateway after set-up.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("-v", "--verbose", count=True, help="Show Ansible's own output (-vv, -vvv: more).")
def workstation(
    host: str | None,
    user: str | None,
    base_url: str | None,
    token_file: Path | None,
    token_stdin: bool,
    model: str,
    shell: str | None,
    vibe: bool,
    mistral_key_file: Path | None,
    mistral_api_base: str,
    vibe_port: int,
    agents: tuple[str, ...],
    vibe_python: str | None,
    ca_file: Path | None,
    check: bool,
    no_verify: bool,
    yes: bool,
    verbose: int,
) -> None:
    """Set up Claude Code on self-hosted models for one developer: claude-switch,
    ~/.claude-backends.env (your key, mode 0600), the cc / cc-local / cc-cloud / cc-vibe
    aliases, Claude Code settings and skills; then check the gateway answers. With --vibe,
    also the loopback LiteLLM proxy behind cc-vibe; with --agent, OpenCode / Mistral Vibe."""
    from ccprov.workstation import onboard as impl

    request = impl.WorkstationRequest(
        host=host,
        user=user,
        base_url=base_url,
        token_file=token_file,
        token_stdin=token_stdin,
        model=model,
        shell=shell,
        vibe=impl.VibeOptions(vibe, mistral_key_file, mistral_api_base, vibe_port),
        agents=agents,
        vibe_python=vibe_python,
        ca_file=ca_file,
        check=check,
        verify=not no_verify,
        yes=yes,
        verbose=verbose,
    )
    sys.exit(impl.run(request, _Terminal()))


@cli.command()
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Backends file to read [default: $CLAUDE_BACKENDS_ENV or ~/.claude-backends.env].",
)
@_inventory_option(
    "Report on every host of this Ansible inventory instead of this workstation.",
    required=False,
)
@_fleet_options("hosts", prefix="With -i: ")
def status(
    env_file: Path | None,
    inventory_path: Path | None,
    limit: str | None,
    forks: int,
    accept_new_host_keys: bool,
) -> None:
    """Without -i: this workstation's backends, which one this shell uses, and whether each
    answers (a rejected key is told apart from a gateway that is down); exit 1 if the
    active backend (or `local`) does not answer. With -i: per host over SSH, the service,
    pinned vs installed version, health endpoint and GPUs; exit 1 if anything is wrong."""
    if inventory_path:
        from ccprov.fleet import status as fleet_status

        fleet = fleet_status.run(inventory_path, limit, forks, accept_new_host_keys)
        click.echo(fleet.render())
        sys.exit(fleet.exit_code)
    from ccprov.workstation import status as impl

    report = impl.run(env_file)
    _echo_all(report.lines())
    sys.exit(report.exit_code)


@cli.command()
@click.option(
    "--backend",
    type=click.Choice(envfile.BACKENDS),
    default="local",
    show_default=True,
    help="Which backend of the env file to test.",
)
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Backends file [default: $CLAUDE_BACKENDS_ENV or ~/.claude-backends.env].",
)
@click.option(
    "--claude",
    "claude_path",
    metavar="PATH",
    help="The claude executable [default: `claude` on PATH].",
)
@click.option("--only", metavar="TEXT", help="Run only the cases whose name contains TEXT.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds allowed for each case.")
@click.option(
    "--agents",
    is_flag=True,
    help="Instead: time code generation, reasoning and error recovery through Claude Code,"
    " OpenCode and Mistral Vibe (where installed) on the same backend, as a table.",
)
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(1, 50),
    help="With --agents: runs per cell (the table shows the median).",
)
@click.option(
    "--conformance",
    is_flag=True,
    help="Instead: check the gateway's Anthropic API the way Claude Code uses it (stream"
    " events, tool calls and round trips, cut-offs, errors, Claude Code's request shapes,"
    " count_tokens, key headers) with direct HTTP requests, no claude needed; one line per"
    " check (--only TEXT selects checks).",
)
def smoke(
    backend: str,
    env_file: Path | None,
    claude_path: str | None,
    only: str | None,
    timeout: float,
    agents: bool,
    runs: int,
    conformance: bool,
) -> None:
    """Run the reference page's verified tests with the real `claude` CLI in headless mode
    against a backend (simple prompt, Read tool, -p, skip-permissions, no --model, code
    generation, code review, reasoning, error recovery) and print pass/fail with times.
    Exit 1 if any case fails."""
    from ccprov.workstation import smoke as impl

    run = impl.prepare(
        impl.SmokeRequest(
            backend=backend,
            env_file=env_file,
            claude_path=claude_path,
            only=only,
            timeout=timeout,
            agents=agents,
            runs=runs,
            conformance=conformance,
        )
    )
    click.echo(run.title)
    _echo_all(run.lines())
    sys.exit(run.exit_code)


@cli.command()
@_inventory_option(
    "Ansible inventory (file or directory), e.g. inventories/production.",
)
@click.option("--limit", metavar="PATTERN", help="Only hosts matching this Ansible pattern.")
@click.option("--forks", default=25, show_default=True, help="Hosts scanned at the same time.")
@click.option(
    "--allow-pth",
    multiple=True,
    metavar="REGEX",
    help="A .pth file name (regex) trusted whatever it holds (repeatable); the known "
    "packaging helpers (distutils-precedence.pth, ...) are trusted only with their known content.",
)
@click.option(
    "--root",
    "roots",
    multiple=True,
    metavar="DIR",
    help="Directory searched, at any depth, for Python environments (repeatable) "
    "[default: /usr /usr/local /opt /srv /var/lib /home /root /tmp /var/tmp].",
)
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Exit 0 even if a host's scan was partial (unreadable directories, no privilege); "
    "they are still listed.",
)
@click.option(
    "--accept-new-host-keys",
    is_flag=True,
    help="Add an SSH host key missing from ~/.ssh/known_hosts and save it there (like "
    "StrictHostKeyChecking=accept-new). Without it an unknown host is not scanned; a "
    "changed key is always refused.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit(
    inventory_path: Path,
    limit: str | None,
    forks: int,
    allow_pth: tuple[str, ...],
    roots: tuple[str, ...],
    allow_partial: bool,
    accept_new_host_keys: bool,
    as_json: bool,
) -> None:
    """Scan every host (GPU hosts, gateways, workstations) over SSH for compromised LiteLLM.

    \b
    Every Python environment below the roots is checked (venvs, pipx and uv tool installs,
    uvx caches, system site-packages/dist-packages, any depth):
    - a litellm version on the guard's built-in denylist (the PyPI releases that shipped
      malware) or the inventory's litellm_gateway_denylist, as dist-info, egg-info or
      egg: COMPROMISED;
    - litellm_init.pth anywhere: COMPROMISED;
    - a .pth line that runs code (import ...) other than the known packaging helpers'
      exact content, or sitecustomize / usercustomize in a site directory: WARNING.
    The scan runs as root (sudo -n unless the SSH user is root; ansible_become: false or
    a non-sudo become method turns that off) and says so when it cannot. Unreadable
    directories make the host PARTIAL. Host keys are checked against ~/.ssh/known_hosts.
    Exit 1 if anything is found, a host cannot be scanned, or a scan is partial (unless
    --allow-partial)."""
    from ccprov.fleet import audit as impl

    report = impl.run(
        inventory_path,
        limit,
        forks,
        list(allow_pth),
        list(roots),
        allow_partial=allow_partial,
        accept_new_host_keys=accept_new_host_keys,
    )
    click.echo(report.render(as_json))
    sys.exit(report.exit_code)


@cli.group()
def keys() -> None:
    """Per-developer gateway keys: one key per person, revocable. The inventory keeps only
    SHA-256 hashes (litellm_gateway_developer_keys); apply changes with the gateways play."""


_keys_inventory = _inventory_option(
    "The Ansible inventory whose gateway variables hold the key hashes."
)


@keys.command("add")
@click.argument("name")
@_keys_inventory
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the key to this new file (mode 0600) instead of printing it.",
)
@click.option("--rotate", is_flag=True, help="Replace NAME's active key with a new one.")
def keys_add(name: str, inventory_path: Path, out: Path | None, rotate: bool) -> None:
    """Make a strong random key for NAME, store its hash, and show the key once."""
    from ccprov.gateway import keys as impl

    added = impl.add(inventory_path, name, out, rotate)
    click.echo(f"Added a key for '{name}' (hash in {added.path}).")
    if added.out is not None:
        click.echo(f"The key is in {added.out} (mode 0600): hand it over, then delete the file.")
    else:
        click.echo("The key, shown once (store it in vault, give it to the developer):")
        click.echo(added.key)
    click.echo(
        "Next: `ansible-playbook playbooks/gateways.yml -i <inventory>` (no restart), and the "
        f"developer runs `ccprov workstation --token-stdin` (or put it in vault as "
        f"vault_developer_keys.{name} for site.yml)."
    )


@keys.command("revoke")
@click.argument("name")
@_keys_inventory
def keys_revoke(name: str, inventory_path: Path) -> None:
    """Mark NAME's key disabled: after the gateways play it gets 401, without a restart."""
    from ccprov.gateway import keys as impl

    path = impl.revoke(inventory_path, name)
    click.echo(
        f"Revoked '{name}' in {path}. Apply it: `ansible-playbook playbooks/gateways.yml -i "
        "<inventory>`; the gateway then answers that key with 401, without a restart."
    )


@keys.command("list")
@_keys_inventory
@click.option(
    "--last-use",
    is_flag=True,
    help="Also each key's last request, read from every gateway's usage log over SSH"
    " (as `ccprov usage`); an active key unused for 30 days is marked for review.",
)
@click.option("--accept-new-host-keys", is_flag=True, help="With --last-use: as for `usage`.")
def keys_list(inventory_path: Path, last_use: bool, accept_new_host_keys: bool) -> None:
    """Names, creation dates and states (never keys)."""
    from ccprov.gateway import keys as impl

    path, entries = impl.listing(inventory_path)
    if not entries:
        click.echo(f"No developer keys in {path}.")
        return
    if not last_use:
        click.echo(f"{'NAME':<24} {'CREATED':<11} STATE")
        for entry in entries:
            click.echo(f"{entry.name:<24} {entry.created:<11} {entry.state}")
        return
    from ccprov.fleet import usage

    report = usage.collect_report(
        inventory_path,
        since="1d",
        developers=impl.developers(inventory_path),
        accept_new_host_keys=accept_new_host_keys,
    )
    click.echo(f"{'NAME':<24} {'CREATED':<11} {'STATE':<20} LAST USE")
    for entry in entries:
        used = report.last_use.get(entry.name)
        seen = used.strftime("%Y-%m-%d %H:%M") if used else "never (30+ days)"
        mark = "  <- review: unused for 30 days" if entry.name in report.idle else ""
        click.echo(f"{entry.name:<24} {entry.created:<11} {entry.state:<20} {seen}{mark}")
    for gateway, problem in sorted(report.problems.items()):
        click.echo(f"ccprov keys list: {gateway}: {problem}; its last uses are missing", err=True)
    sys.exit(1 if report.problems else 0)


@cli.command()
@_inventory_option("The Ansible inventory whose gateways' usage logs are read.")
@click.option(
    "--since",
    default="7d",
    show_default=True,
    metavar="AGE|DATE",
    help="Requests from this far back: 12h, 7d, 4w, or a date (2026-11-01).",
)
@click.option(
    "--by",
    type=click.Choice(["developer", "day", "backend"]),
    default="developer",
    show_default=True,
    help="One row per developer, per UTC day or per vLLM backend.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_fleet_options("gateways")
def usage(
    inventory_path: Path,
    since: str,
    by: str,
    as_json: bool,
    limit: str | None,
    forks: int,
    accept_new_host_keys: bool,
) -> None:
    """Who used the gateways how much: every gateway's usage log (one line per request,
    never a prompt or a key) read over SSH in parallel, as a table of requests, tokens in and
    out, cache share, errors and p50/p95 time to first token; developers of the inventory's
    keys who sent nothing in 30 days are flagged for key review. Exit 1 if a gateway could
    not be read (its requests are then missing from the figures)."""
    from ccprov.fleet import usage as impl
    from ccprov.gateway import keys

    report = impl.collect_report(
        inventory_path,
        since=since,
        by=by,
        developers=keys.developers(inventory_path),
        limit=limit,
        forks=forks,
        accept_new_host_keys=accept_new_host_keys,
    )
    click.echo(report.json() if as_json else report.table())
    sys.exit(1 if report.problems else 0)


@cli.group()
def ca() -> None:
    """The inventory's private CA for the gateways' TLS certificates (when the inventory
    gives none): the gateways' certificates are signed with it, workstations trust it."""


_PERMIT_HELP = (
    "A DNS name or domain the CA may sign for (repeat it); a domain covers every name under"
    " it, so --permit example.org leaves room for gateways added later. Default: the"
    " inventory's gateway names, exactly. Addresses are not constrained (the claude CLI"
    " refuses addresses under a CA that constrains them); the signer signs only the"
    " inventory's."
)


def _say_permitted(permitted: tuple[str, ...]) -> None:
    click.echo(
        f"  it may sign only these DNS names (critical name constraints): {', '.join(permitted)}"
    )


@ca.command("init")
@_inventory_option(
    "The Ansible inventory directory, e.g. inventories/prod: the CA goes in its"
    " ccprov-ca/ directory (ca.key mode 0600, ca.crt).",
)
@click.option("--permit", "permit", multiple=True, metavar="NAME", help=_PERMIT_HELP)
def ca_init(inventory_path: Path, permit: tuple[str, ...]) -> None:
    """Make the private CA once: <inventory>/ccprov-ca/ca.key (EC P-256, 0600) and ca.crt
    (self-signed, 3 years, name-constrained to the gateways' names). An existing CA is
    kept as it is; never overwritten (`ccprov ca rotate` replaces it)."""
    from ccprov.gateway import ca as impl

    made = impl.init(inventory_path, permit)
    cert_path, key_path = made.cert_path, made.key_path
    if not made.created:
        click.echo(f"The CA already exists: {cert_path} (key {key_path}); nothing changed.")
        if not made.permitted:
            click.echo(
                "Warning: it has no name constraints, so it could vouch for any name"
                f" (api.anthropic.com too): replace it with `ccprov ca rotate -i {inventory_path}`."
            )
        return
    click.echo(f"Made the private CA '{made.name}':")
    _say_permitted(made.permitted)
    click.echo(f"  {cert_path}  (certificate, 0644, valid {impl.VALID_DAYS // 365} years)")
    click.echo(f"  {key_path}  (private key, 0600: keep it out of version control, back it up)")
    click.echo("Next:")
    click.echo(
        f"  ansible-playbook site.yml -i {inventory_path}   # each gateway gets a certificate"
        " signed by it; workstations get ca.crt"
    )
    click.echo(f"  ccprov workstation --ca-file {cert_path} ...   # a developer set up by hand")


@ca.command("rotate")
@_inventory_option("The Ansible inventory directory whose ccprov-ca/ holds the CA.")
@click.option("--permit", "permit", multiple=True, metavar="NAME", help=_PERMIT_HELP)
def ca_rotate(inventory_path: Path, permit: tuple[str, ...]) -> None:
    """Replace the CA: the old one moves to ccprov-ca/retired/<time>/ and a new one is made.
    The way to revoke: once site.yml has run, nothing the old CA signed is trusted."""
    from ccprov.gateway import ca as impl

    made = impl.rotate(inventory_path, permit)
    click.echo(f"Made a new private CA '{made.name}'; the old one is in {made.retired}.")
    _say_permitted(made.permitted)
    click.echo("Next, run site.yml at once: gateways get certificates from the new CA and")
    click.echo("workstations its ca.crt (until then, workstations refuse the gateways):")
    click.echo(f"  ansible-playbook site.yml -i {inventory_path}")


REPORT_TO = "the ccprov maintainers (the ccprov repository's issue tracker)"


def _verbose(argv: list[str]) -> bool:
    """-v / --verbose on the command line, or CCPROV_DEBUG set (commands without -v)."""
    if os.environ.get("CCPROV_DEBUG"):
        return True
    return any(a == "--verbose" or (len(a) > 1 and a.strip("v") == "-") for a in argv)


def main() -> None:
    """The entry point: Click's own errors as Click shows them; anything unexpected as one
    line naming the error and where to report it (the traceback only with -v)."""
    try:
        cli()
    except Exception as exc:  # the last guard: one line instead of a traceback
        verbose = _verbose(sys.argv[1:])
        if verbose:
            traceback.print_exc()
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
        detail = str(exc).splitlines()[0][:200] if str(exc).strip() else ""
        with contextlib.suppress(OSError):
            click.echo(
                f"ccprov: unexpected error {type(exc).__name__}{where}"
                + (f": {detail}" if detail else "")
                + f"; this is a bug, please report it to {REPORT_TO}"
                + ("" if verbose else " (-v or CCPROV_DEBUG=1 shows the traceback)"),
                err=True,
            )
        sys.exit(1)


if __name__ == "__main__":
    main()
