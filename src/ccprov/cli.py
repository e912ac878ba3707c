"""The ccprov command line. Heavy modules are imported inside commands so --help is fast."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ccprov import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    check: bool,
    no_verify: bool,
    yes: bool,
    verbose: int,
) -> None:
    """Set up Claude Code on self-hosted models for one developer: claude-switch,
    ~/.claude-backends.env (your key, mode 0600), the cc / cc-local / cc-cloud / cc-vibe
    aliases, Claude Code settings and skills; then check the gateway answers."""
    from ccprov import runner
    from ccprov import workstation as impl

    try:
        code = impl.run(
            host=host,
            user=user,
            base_url=base_url,
            token_file=token_file,
            token_stdin=token_stdin,
            model=model,
            shell=shell,
            check=check,
            verify=not no_verify,
            yes=yes,
            verbose=verbose,
        )
    except runner.RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@cli.command()
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Backends file to read [default: $CLAUDE_BACKENDS_ENV or ~/.claude-backends.env].",
)
def status(env_file: Path | None) -> None:
    """Show the configured backends, which one this shell uses, and whether each answers
    (a rejected key is told apart from a gateway that is down). Exit 1 if the active
    backend (or `local`) does not answer."""
    from ccprov import status as impl

    sys.exit(impl.run(env_file))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
