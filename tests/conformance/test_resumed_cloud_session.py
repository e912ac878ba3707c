"""A session begun on Anthropic's cloud, continued on the self-hosted route (issue #30 item 2):
the real `claude --continue` with the `local` route's environment, through the real gateway
on both backend routes, to the vLLM stand-in.

The transcript (cloud_session.py) holds what only the cloud writes: thinking with a
signature, redacted_thinking, `toolu_` ids, cache_control. What the pinned CLI (2.1.331)
does with it, seen here: when the recorded model differs from the one it now asks for (the
real switch: claude-opus-... recorded, devstral asked), it leaves the thinking blocks out
and sends the rest as recorded; when they match, it sends them all. Both are resumed here.
vLLM 0.33.0 itself takes both (tests/vllm_reference/test_differential.py, the cloud-history
cases), so the gateway changes nothing in the history; the stand-in is as strict.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccprov.workstation.envfile import Backend, route_env
from tests.conformance import cloud_session
from tests.e2e.conftest import Developer, fresh_developer
from tests.support.paths import CLAUDE

pytestmark = pytest.mark.slow

RECORDED = {"cloud-model": cloud_session.CLOUD_MODEL, "same-model": "devstral"}


@pytest.fixture(scope="module")
def developer() -> Iterator[Developer]:
    yield from fresh_developer()


def _own(developer: Developer, top: Path) -> None:
    """Files written here belong to the developer, as the CLI's own would."""
    if os.geteuid() != 0:
        return
    for path in [top, *top.rglob("*")]:
        shutil.chown(path, developer.name, developer.name)


@pytest.mark.parametrize("recorded", sorted(RECORDED))
def test_claude_continues_a_cloud_session(route_gateway, observed_standin, developer, recorded):
    route, gateway = route_gateway
    project = developer.home / f"project-{route}-{recorded}"
    project.mkdir()
    notes = project / "notes.txt"
    notes.write_text("the secret word is pelican-7\n")
    cloud_session.write(developer.home, project, notes, model=RECORDED[recorded])
    _own(developer, developer.home / ".claude")
    _own(developer, project)
    env = route_env(Backend("local", gateway.url, gateway.master_key, "devstral"))
    start = len(observed_standin.requests())
    proc = developer.run(
        f'cd {project} && {CLAUDE} --continue -p "Say RESUMED_OK" --output-format text', env=env
    )
    assert proc.returncode == 0, (
        f"[{route}, {recorded}] {proc.stdout}{proc.stderr}{gateway.log.read_text()[-1500:]}"
    )
    assert proc.stdout.strip().splitlines()[-1] == "RESUMED_OK", proc.stdout
    # The backend got the cloud's history, not a fresh conversation.
    sent = json.dumps([r["body"]["messages"] for r in observed_standin.requests()[start:]])
    assert cloud_session.TOOL_ID in sent and cloud_session.CLOUD_ANSWER in sent
    if recorded == "same-model":
        thinking = "redacted_thinking" if route == "messages" else "reasoning_content"
        assert thinking in sent, f"[{route}] the thinking did not reach the backend"
