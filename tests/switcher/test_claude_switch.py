"""claude-switch, sourced in real bash and zsh, as a developer uses it."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from ccprov.workstation import envfile
from tests.switcher.conftest import SHELLS, Rendered, write_env

GOOD_ENV = """\
# comment line
LOCAL_BASE_URL="https://gateway.example.org/"
LOCAL_TOKEN="sk-local-abcdefghijklmnop"
LOCAL_MODEL="devstral"
LOCAL_MODEL_NAME="Devstral 2 (self-hosted)"
LOCAL_CONTEXT_WINDOW="262144"
VLLM_BASE_URL='http://gpu1:8000'
VLLM_TOKEN=vllm-key-0123456789
VLLM_MODEL=devstral
OLLAMA_BASE_URL="http://localhost:11434"
OLLAMA_TOKEN="ollama"
OLLAMA_MODEL="devstral:24b"
LMSTUDIO_BASE_URL="http://localhost:1234"
LMSTUDIO_TOKEN="lmstudio"
LMSTUDIO_MODEL="mistralai/devstral-small"
export VIBE_BASE_URL="http://localhost:4000"
VIBE_TOKEN="sk-vibe-master-0123456789"
VIBE_MODEL="devstral-medium"
VIBE_SMALL_MODEL="mistral-small"
CLOUD_API_KEY=""
"""

MANAGED = {
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_CUSTOM_MODEL_OPTION",
    "ANTHROPIC_CUSTOM_MODEL_OPTION_NAME",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "CLAUDE_CODE_SUBAGENT_MODEL",
    "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS",
    "CLAUDE_CODE_ATTRIBUTION_HEADER",
    "CLAUDE_CODE_AUTO_COMPACT_WINDOW",
    "CLAUDE_CODE_MAX_CONTEXT_TOKENS",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_TELEMETRY",
    "DISABLE_ERROR_REPORTING",
    "DISABLE_AUTOUPDATER",
    "CLAUDE_SWITCH_BACKEND",
}

EXPECTED = {
    "local": ("https://gateway.example.org", "sk-local-abcdefghijklmnop", "devstral", "devstral"),
    "vllm": ("http://gpu1:8000", "vllm-key-0123456789", "devstral", "devstral"),
    "ollama": ("http://localhost:11434", "ollama", "devstral:24b", "devstral:24b"),
    "lmstudio": (
        "http://localhost:1234",
        "lmstudio",
        "mistralai/devstral-small",
        "mistralai/devstral-small",
    ),
    "vibe": (
        "http://localhost:4000",
        "sk-vibe-master-0123456789",
        "devstral-medium",
        "mistral-small",
    ),
}

pytestmark = pytest.mark.parametrize("shell", SHELLS)


def test_both_shells_are_installed(shell: str) -> None:
    assert set(SHELLS) == {"bash", "zsh"}, "install zsh: the switcher must be tested in both"


@pytest.mark.parametrize("backend", sorted(EXPECTED))
def test_backend_sets_exactly_its_variables(shell, backend, home, run_switch) -> None:
    write_env(home, GOOD_ENV)
    run = run_switch(shell, backend)
    assert run.rc == 0, run.stderr
    url, token, model, small = EXPECTED[backend]
    changed = {k: new for k, (_, new) in run.changed_env.items()}
    expected = {
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_AUTH_TOKEN": token,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_CUSTOM_MODEL_OPTION": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": small,
        "ANTHROPIC_SMALL_FAST_MODEL": small,
        "CLAUDE_CODE_SUBAGENT_MODEL": model,
        "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
        # On-network: no telemetry, error reports, update checks or other calls home.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_SWITCH_BACKEND": backend,
    }
    if backend == "local":
        expected["ANTHROPIC_CUSTOM_MODEL_OPTION_NAME"] = "Devstral 2 (self-hosted)"
        # Claude Code would assume a 1M window for a model it does not know
        # (tests/e2e/test_long_sessions.py: what each of the two does).
        expected["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = "262144"
        expected["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] = "262144"
    assert changed == expected
    # The token is never printed whole.
    assert f"token {token}" not in run.stdout + run.stderr
    assert "token ****" in run.stdout


def test_a_window_under_100k_is_not_an_auto_compact_window(shell, home, run_switch) -> None:
    """Claude Code 2.1.331 raises a CLAUDE_CODE_AUTO_COMPACT_WINDOW under 100k to 100k and
    warns on every launch; CLAUDE_CODE_MAX_CONTEXT_TOKENS alone makes it compact in time."""
    write_env(
        home, GOOD_ENV.replace('LOCAL_CONTEXT_WINDOW="262144"', 'LOCAL_CONTEXT_WINDOW="99999"')
    )
    run = run_switch(shell, "local")
    assert run.rc == 0, run.stderr
    assert run.after["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "99999"
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in run.after
    # One left by an earlier switch (to a 100k+ window) goes too.
    run = run_switch(shell, "local", prelude="export CLAUDE_CODE_AUTO_COMPACT_WINDOW=262144")
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in run.after


def test_switch_unsets_a_conflicting_api_key_and_says_so(shell, home, run_switch) -> None:
    write_env(home, GOOD_ENV)
    run = run_switch(shell, "local", extra_env={"ANTHROPIC_API_KEY": "sk-ant-cloud-secret-999"})
    assert run.rc == 0
    assert "ANTHROPIC_API_KEY" not in run.after
    assert "unset ANTHROPIC_API_KEY" in run.stdout
    assert "sk-ant-cloud-secret-999" not in run.stdout + run.stderr


def test_cloud_unsets_everything_the_others_set(shell, home, run_switch) -> None:
    write_env(home, GOOD_ENV)
    run = run_switch(shell, "cloud", prelude="source claude-switch local >/dev/null")
    assert run.rc == 0
    assert set(run.before) >= MANAGED
    assert not MANAGED & set(run.after)
    assert "ANTHROPIC_API_KEY" not in run.after


def test_cloud_exports_the_optional_cloud_key(shell, home, run_switch) -> None:
    write_env(home, GOOD_ENV.replace('CLOUD_API_KEY=""', 'CLOUD_API_KEY="sk-ant-api-0123456789"'))
    run = run_switch(shell, "cloud", prelude="source claude-switch local >/dev/null")
    assert run.rc == 0
    assert run.after["ANTHROPIC_API_KEY"] == "sk-ant-api-0123456789"
    assert not MANAGED & set(run.after)


def test_status_masks_the_token_and_works_before_any_switch(shell, home, run_switch) -> None:
    run = run_switch(shell, "status")
    assert run.rc == 0
    assert "backend:" in run.stdout and "cloud" in run.stdout
    write_env(home, GOOD_ENV)
    run = run_switch(shell, "status", prelude="source claude-switch local >/dev/null")
    assert run.rc == 0
    assert "https://gateway.example.org" in run.stdout
    assert "sk-local-abcdefghijklmnop" not in run.stdout
    assert "****mnop" in run.stdout
    assert run.changed_env == {}


def test_sourcing_twice_is_safe(shell, home, run_switch) -> None:
    write_env(home, GOOD_ENV)
    once = run_switch(shell, "local")
    twice = run_switch(shell, "local", prelude="source claude-switch local >/dev/null")
    assert once.rc == twice.rc == 0
    assert {k: once.after[k] for k in MANAGED if k in once.after} == {
        k: twice.after[k] for k in MANAGED if k in twice.after
    }
    assert twice.changed_env == {}


def test_helpers_and_shell_options_do_not_leak(shell, home, run_switch) -> None:
    write_env(home, GOOD_ENV)
    for args in (("local",), ("bogus",), ("status",), ("cloud",)):
        run = run_switch(shell, *args)
        assert run.functions_after == run.functions_before
        assert run.options_after == run.options_before
        assert not [k for k in run.after if k.startswith("_ccsw")]


BAD_INPUTS = {
    "unknown backend": (GOOD_ENV, ("bogus",), "unknown backend 'bogus'"),
    "no backend": (GOOD_ENV, (), "usage: source claude-switch"),
    "missing token": (
        GOOD_ENV.replace('LOCAL_TOKEN="sk-local-abcdefghijklmnop"', 'LOCAL_TOKEN=""'),
        ("local",),
        "LOCAL_TOKEN is empty",
    ),
    "missing url line": (
        GOOD_ENV.replace('LOCAL_BASE_URL="https://gateway.example.org/"\n', ""),
        ("local",),
        "LOCAL_BASE_URL is empty",
    ),
    "not a URL": (
        GOOD_ENV.replace("https://gateway.example.org/", "gateway.example.org"),
        ("local",),
        "must start with http:// or https://",
    ),
    "malformed line": (
        GOOD_ENV + "this is not an assignment\n",
        ("local",),
        f"line {len(GOOD_ENV.splitlines()) + 1} is not KEY=value",  # the appended one
    ),
    "unquoted space": (GOOD_ENV + "LOCAL_MODEL=dev stral\n", ("local",), "quote the value"),
    "command substitution": (GOOD_ENV + 'LOCAL_TOKEN="$(id)"\n', ("local",), "not allowed"),
    "bad name": (GOOD_ENV + "1ABC=x\n", ("vllm",), "not a valid variable name"),
    "bad context window": (
        GOOD_ENV.replace('LOCAL_CONTEXT_WINDOW="262144"', 'LOCAL_CONTEXT_WINDOW="256k"'),
        ("local",),
        "LOCAL_CONTEXT_WINDOW must be a number of tokens",
    ),
    "malformed file on cloud": (GOOD_ENV + "garbage\n", ("cloud",), "is not KEY=value"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_cleanly_and_changes_nothing(shell, case, home, run_switch) -> None:
    text, args, message = BAD_INPUTS[case]
    write_env(home, text)
    # Start from a switched shell, so "unchanged" covers variables we would otherwise touch.
    write_env(home, GOOD_ENV)
    prelude = (
        f"source claude-switch vllm >/dev/null; cat > ~/.claude-backends.env <<'XEOF'\n{text}XEOF"
    )
    run = run_switch(shell, *args, prelude=prelude)
    assert run.rc != 0
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) <= 12
    assert run.changed_env == {}


def test_missing_env_file_gets_a_private_template(shell, home, run_switch) -> None:
    run = run_switch(shell, "local")
    assert run.rc != 0
    assert run.changed_env == {}
    path = home / ".claude-backends.env"
    assert "created" in run.stderr and str(path) in run.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    template = envfile.parse(path.read_text())
    assert template["LOCAL_BASE_URL"] == "" and template["LOCAL_MODEL"] == "devstral"
    # The template names every backend's variables.
    for backend in envfile.BACKENDS:
        assert f"{backend.upper()}_BASE_URL" in template


def test_executing_instead_of_sourcing_explains(shell, home, switch) -> None:
    proc = subprocess.run(
        [shell, str(switch), "local"], env={"HOME": str(home)}, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "source claude-switch local" in proc.stderr


def test_env_file_grammar_matches_the_python_reader(shell, home, run_switch) -> None:
    """ccprov status reads the same file as the switcher: both must agree on every value."""
    write_env(home, GOOD_ENV)
    values = envfile.parse(GOOD_ENV)
    for backend in envfile.BACKENDS:
        run = run_switch(shell, backend)
        prefix = backend.upper()
        assert run.after["ANTHROPIC_BASE_URL"] == values[f"{prefix}_BASE_URL"].rstrip("/")
        assert run.after["ANTHROPIC_AUTH_TOKEN"] == values[f"{prefix}_TOKEN"]
        assert run.after["ANTHROPIC_MODEL"] == values[f"{prefix}_MODEL"]


def test_zsh_and_bash_rc_block_work_interactively(
    shell, home, rendered: Rendered, tmp_path: Path
) -> None:
    """The aliases block, as the role renders it, gives cc-local in an interactive shell."""
    block = rendered.rc_block.read_text()
    rc = home / (".bashrc" if shell == "bash" else ".zshrc")
    rc.write_text(block)
    write_env(home, GOOD_ENV)
    proc = subprocess.run(
        [shell, "-ic", "cc-local; echo URL=$ANTHROPIC_BASE_URL"],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "claude --flags" in proc.stdout
    assert "URL=https://gateway.example.org" in proc.stdout


def test_smoke_gives_claude_what_the_switcher_exports(shell, home, run_switch) -> None:
    """`ccprov smoke` runs Claude Code with the same route variables as `source claude-switch
    vllm` (both come from the workstation role's backend table)."""
    from ccprov.workstation import envfile, smoke

    write_env(home, GOOD_ENV)
    run = run_switch(shell, "vllm")
    assert run.rc == 0, run.stderr
    switched = {k: new for k, (_, new) in run.changed_env.items() if k != "CLAUDE_SWITCH_BACKEND"}
    url, token, model, _ = EXPECTED["vllm"]
    backend = envfile.Backend(name="vllm", base_url=url, token=token, model=model)
    env = smoke.claude_env(backend, home)
    assert {k: env.get(k) for k in switched} == switched
