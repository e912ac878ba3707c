"""Issue #30 item 1: a long session with the real `claude` CLI through the real gateway to a
vLLM stand-in whose context is small enough to fill in a test (--max-model-len 100000).

What the pinned Claude Code 2.1.331 does, read from its bundle (bin/claude.exe):
- CLAUDE_CODE_AUTO_COMPACT_WINDOW below 100k reads as 100k (`f$=1e5`, `hje`), and the
  compaction window is min(model window, it); CLAUDE_CODE_MAX_CONTEXT_TOKENS is the window of
  a model it does not know (`Jv`), else 1M. It compacts at window - min(max output, 20000) -
  13000 (`x4`, `Jre`, `wio=20000`): 67,000 tokens here; it blocks (and compacts) a prompt
  from model window - 20000 - 3000 (`Fbt`, `iBt`).
- A 400 whose message holds "maximum context length" (vLLM's wording, among other
  providers') counts as "Prompt is too long" (`FCi`, `lkt`) and starts a reactive compaction;
  Anthropic's wording is needed only for the token counts (`hRe`).

Each turn pipes in a filler of about 31k tekken tokens (the stand-in counts with Devstral's
tokenizer); Claude Code's own prompt with the switcher's variables is about 19k.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import SMALL_CONTEXT, SMALL_CONTEXT_MODEL
from tests.support import role_templates
from tests.support.gateway import Gateway

pytestmark = pytest.mark.slow

# The session's gateway serves it (tests/e2e/conftest.py, gateway): no LiteLLM start of its own.
CONTEXT, MODEL = SMALL_CONTEXT, SMALL_CONTEXT_MODEL
FILLER = " ".join(f"The quick brown fox number {i} jumps over the lazy dog." for i in range(2000))


@pytest.fixture(scope="module")
def developer_with_switcher(developer_module, tmp_path_factory):
    """A developer with the role's claude-switch (rendered by Ansible as the role does) and
    an env file for `local` pointing at that gateway; a filler file to pipe in."""
    home = developer_module.home
    switch = home / ".local/bin/claude-switch"
    switch.parent.mkdir(parents=True, exist_ok=True)
    proc = role_templates.render(
        tmp_path_factory.mktemp("switcher"),
        [role_templates.Job("workstation", "home/.local/bin/claude-switch.j2", switch)],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (home / "filler.txt").write_text(FILLER)
    for path in (home / ".local", home / ".local/bin", switch, home / "filler.txt"):
        path.chmod(0o755 if path.is_dir() or path == switch else 0o644)
        if os.geteuid() == 0:
            shutil.chown(path, developer_module.name, developer_module.name)
    return developer_module


def set_env_file(developer, gateway: Gateway, window: str) -> None:
    """The switcher's env file as ccprov workstation writes it, with LOCAL_CONTEXT_WINDOW."""
    env_file = developer.home / ".claude-backends.env"
    env_file.write_text(
        f'LOCAL_BASE_URL="{gateway.url}"\nLOCAL_TOKEN="{gateway.master_key}"\n'
        f'LOCAL_MODEL="{MODEL}"\nLOCAL_CONTEXT_WINDOW="{window}"\n'
    )
    env_file.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(env_file, developer.name, developer.name)


def session(developer, project: str, turns: list[str]) -> list[tuple[int, str]]:
    """In ~/PROJECT, after `source claude-switch local`, one `claude -p` per prompt (the
    first new, the others --continue), the filler piped in after each. Returns each run's
    exit code and last line of output."""
    answers = []
    for i, prompt in enumerate(turns):
        cont = " --continue" if i else ""
        proc = developer.run(
            f"source ~/.local/bin/claude-switch local >/dev/null && mkdir -p ~/{project}"
            f' && cd ~/{project} && claude -p{cont} "{prompt}" --output-format text < ~/filler.txt'
        )
        lines = proc.stdout.strip().splitlines() or [proc.stderr[-1500:]]
        answers.append((proc.returncode, lines[-1]))
    return answers


def transcript(developer, project: str) -> str:
    files = list((developer.home / ".claude/projects").glob(f"*{project}/*.jsonl"))
    assert len(files) == 1, files
    return files[0].read_text()


def log_since(gateway: Gateway, offset: int) -> str:
    return gateway.log.read_text()[offset:]


def test_the_clients_400_keeps_the_wording_claude_code_recovers_on(gateway) -> None:
    """What Claude Code gets from the gateway for a prompt over the context: a 400
    invalid_request_error whose message still holds vLLM's "maximum context length" (Claude
    Code 2.1.331 matches that phrase, `FCi`) with both counts."""
    body = {
        "model": MODEL,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": FILLER * 4}],
    }
    request = urllib.request.Request(
        f"{gateway.url}/v1/messages",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {gateway.master_key}",
            "content-type": "application/json",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=120)
    assert refused.value.code == 400
    answer = json.loads(refused.value.read())
    assert answer["type"] == "error"
    assert answer["error"]["type"] == "invalid_request_error"
    message = answer["error"]["message"]
    assert re.search(
        rf"This model's maximum context length is {CONTEXT} tokens\. However, your prompt"
        r" contains \d+ input tokens",
        message,
    ), message


def test_switcher_window_compacts_before_the_backends_limit(
    developer_with_switcher, gateway
) -> None:
    """LOCAL_CONTEXT_WINDOW = the backend's context: the second turn (about 81k tokens with
    it) is compacted before it is sent, and the backend never refuses a prompt."""
    dev = developer_with_switcher
    set_env_file(dev, gateway, str(CONTEXT))
    start = len(gateway.log.read_text())
    answers = session(dev, "compacts", ["Say ONE", "Say TWO"])
    assert answers == [(0, "ONE"), (0, "TWO")]
    assert '"compact_boundary"' in transcript(dev, "compacts")
    assert "maximum context length" not in log_since(gateway, start)


def test_without_a_window_the_limit_400_is_recovered_from(developer_with_switcher, gateway) -> None:
    """No LOCAL_CONTEXT_WINDOW (Claude Code assumes 1M): the third turn (about 112k tokens)
    gets vLLM's own 400, passed on by the gateway; Claude Code compacts and answers."""
    dev = developer_with_switcher
    set_env_file(dev, gateway, "")
    start = len(gateway.log.read_text())
    answers = session(dev, "at-limit", ["Say ONE", "Say TWO", "Say THREE"])
    assert answers == [(0, "ONE"), (0, "TWO"), (0, "THREE")]
    assert '"compact_boundary"' in transcript(dev, "at-limit")
    log = log_since(gateway, start)
    assert f"This model's maximum context length is {CONTEXT} tokens" in log, log[-3000:]
