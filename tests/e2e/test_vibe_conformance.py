"""The conformance checks (src/ccprov/probes/conformance.py) through the vibe route: the loopback
LiteLLM proxy as the workstation role configures it (its own config.yaml.j2 and env.j2,
rendered by Ansible) in front of the Mistral API stand-in, which refuses what the real API
refuses (tests/standins/mistral_api/README.md). One proxy for the module; the pinned
LiteLLM venv is the gateway tests' (the same lock, workstation_vibe_proxy_version)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccprov.probes import conformance
from tests.support import role_templates
from tests.support.gateway import ensure_litellm_venv, role_default
from tests.support.paths import REPO
from tests.support.standin import free_port

pytestmark = pytest.mark.slow

STANDIN = REPO / "tests/standins/mistral_api/mistral_api_standin.py"
# Its hooks as vibe_proxy.yml installs them next to config.yaml: its own and two of the
# gateway's.
HOOKS = [
    REPO / "roles/workstation/files/ccprov_vibe.py",
    REPO / "roles/litellm_gateway/files/ccprov_text_only.py",
    REPO / "roles/litellm_gateway/files/ccprov_stop_sequences.py",
]
MISTRAL_KEY = "sk-mistral-conformance-0123456789"
MASTER_KEY = "sk-vibe-conformance-0123456789abcdef"
MODEL = "devstral-medium"  # workstation_vibe_model: what Claude Code asks the proxy for
UPSTREAM = "devstral-medium-latest"  # workstation_vibe_mistral_model

# Checks that cannot pass on this route, whatever the proxy does: name -> the reason and its
# citation (an xfail, strict: one that starts passing fails until taken off). None now:
# stop-sequences, tool-calls-parallel-stream and tool-result-image pass since issue #30.
XFAIL: dict[str, str] = {}
# Checks that fail on this route today and could pass with more proxy work: name -> what
# fails and where. Strict xfails as well.
OPEN: dict[str, str] = {}


@dataclass
class Route:
    url: str
    log: Path
    requests: Path
    fixtures: Path

    def sent(self) -> list[dict[str, Any]]:
        """What reached the Mistral API stand-in, one entry per request."""
        if not self.requests.exists():
            return []
        return [json.loads(line) for line in self.requests.read_text().splitlines() if line]


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited at start:\n" + log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # an answer (the stand-in's 401 without a key)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{url} did not answer:\n" + log.read_text()[-3000:])


def _env_file(text: str) -> dict[str, str]:
    """KEY="value" lines, as the role writes its env file."""
    env = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key] = value.strip('"')
    return env


def _fixtures(dest: Path) -> Path:
    """The suite's request fixtures naming this route's model (tool_request.json names the
    gateway's `devstral`; the vibe proxy serves workstation_vibe_model)."""
    dest.mkdir()
    for source in conformance.FIXTURES.glob("*.json"):
        data = json.loads(source.read_text())
        if isinstance(data.get("body"), dict) and "model" in data["body"]:
            data["body"]["model"] = MODEL
        (dest / source.name).write_text(json.dumps(data))
    return dest


@pytest.fixture(scope="module")
def vibe_route(tmp_path_factory) -> Iterator[Route]:
    assert role_default("litellm_gateway_version") == str(
        yaml.safe_load((REPO / "roles/workstation/defaults/main.yml").read_text())[
            "workstation_vibe_proxy_version"
        ]
    ), "the vibe proxy and the gateway pin one LiteLLM (one venv here)"
    tmp = tmp_path_factory.mktemp("vibe-conformance")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        standin_port, proxy_port = free_port(), free_port()
        requests, standin_log = tmp / "mistral.jsonl", tmp / "mistral.log"
        with standin_log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(STANDIN),
                        "--port",
                        str(standin_port),
                        "--api-key",
                        MISTRAL_KEY,
                        "--request-log",
                        str(requests),
                        "--log-bodies",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        api_base = f"http://127.0.0.1:{standin_port}/v1"
        # The role's own templates for the proxy's config and env file.
        conf = tmp / "vibe-proxy"
        jobs = [
            role_templates.Job("workstation", t, conf / Path(t).stem)
            for t in (
                "home/.config/ccprov/vibe-proxy/config.yaml.j2",
                "home/.config/ccprov/vibe-proxy/env.j2",
            )
        ]
        rendered = role_templates.render(
            tmp / "render",
            jobs,
            {
                "workstation_vibe_mistral_api_base": api_base,
                "workstation_vibe_mistral_api_key": MISTRAL_KEY,
                "__workstation_vibe_master_key": MASTER_KEY,
            },
        )
        assert rendered.returncode == 0, rendered.stdout[-3000:]
        # Its hooks, next to the config as vibe_proxy.yml writes them.
        for hook in HOOKS:
            shutil.copy(hook, conf / hook.name)
        venv = ensure_litellm_venv()
        log = tmp / "litellm.log"
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            **_env_file((conf / "env").read_text()),
        }
        with log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [
                        str(venv / "bin/litellm"),
                        "--config",
                        str(conf / "config.yaml"),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(proxy_port),
                    ],
                    env=env,
                    cwd=tmp,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait(f"{api_base}/models", procs[0], standin_log, 15)  # 401 is an answer
        url = f"http://127.0.0.1:{proxy_port}"
        _wait(f"{url}/health/liveliness", procs[1], log, 120)
        yield Route(url, log, requests, _fixtures(tmp / "fixtures"))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=20)


_results: dict[str, conformance.Result] = {}


def results(route: Route) -> dict[str, conformance.Result]:
    if not _results:
        target = conformance.Target(route.url, MASTER_KEY, MODEL)
        found = list(conformance.run(target, fixtures=route.fixtures))
        print("\nroute vibe:\n" + "\n".join(r.line() for r in found))
        _results.update((r.name, r) for r in found)
    return _results


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason={**XFAIL, **OPEN}[n], strict=True))
        if n in {**XFAIL, **OPEN}
        else n
        for n in conformance.names()
    ],
)
def test_check(vibe_route: Route, name: str) -> None:
    result = results(vibe_route)[name]
    refused = [r for r in vibe_route.sent() if r["refused"]]
    assert result.ok, (
        f"[vibe] {result.line()}\nrefused by the Mistral API stand-in: "
        f"{json.dumps(refused[-2:])[:1500]}\n{vibe_route.log.read_text()[-1500:]}"
    )


def test_nothing_reached_the_api_that_it_refuses(vibe_route: Route) -> None:
    """Over the whole suite, every request the proxy made was one the API takes; only the
    over-long prompt (over-long-prompt-400) is refused, for its length."""
    results(vibe_route)
    refused = [r for r in vibe_route.sent() if r["refused"] not in (None, "context_length")]
    assert not refused, json.dumps(refused)[:3000]
    assert [r["refused"] for r in vibe_route.sent()].count("context_length") == 1
    assert {r["model"] for r in vibe_route.sent()} == {UPSTREAM}


def test_cloud_shaped_turn_with_text_and_a_tool_call_is_replayed(vibe_route: Route) -> None:
    """A turn as Anthropic's cloud writes it, replayed on the vibe route (a session flipped
    from `cloud`): thinking with a signature, a sentence, then a tool call with a `toolu_`
    id. Devstral writes such turns too (a sentence before the call). The API refuses a
    turn with both content and tool_calls (422, github/copilot-cli#4884) and ids that are
    not 9 alphanumerics (400); the proxy (ccprov_vibe.py) sends the sentence and the call
    as two assistant turns, under an id the tool result shares."""
    fixture = json.loads((vibe_route.fixtures / "tool_request.json").read_text())
    body = fixture["body"]
    path = fixture["expected_input"]["file_path"]
    body["messages"] += [
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "The user wants the file.", "signature": "c2ln"},
                {"type": "text", "text": f"I will read {path} first."},
                {
                    "type": "tool_use",
                    "id": conformance.LONG_TOOL_ID,
                    "name": "Read",
                    "input": {"file_path": path},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": conformance.LONG_TOOL_ID,
                    "content": "cloud line one: the keys rotate on Mondays",
                }
            ],
        },
    ]
    ctx = conformance.Context(
        conformance.Target(vibe_route.url, MASTER_KEY, MODEL), vibe_route.fixtures
    )
    start = len(vibe_route.sent())
    reply = ctx.messages({**body, "stream": True})
    assert reply.status == 200, reply.body[:500]
    answer = conformance.assemble(reply.events())
    assert "rotate on Mondays" in answer.text, answer.text
    (sent,) = vibe_route.sent()[start:]
    assert sent["refused"] is None and sent["stream"]
    turns = [m for m in sent["body"]["messages"] if m["role"] in ("assistant", "tool")]
    assert [sorted(set(m) - {"name"}) for m in turns] == [
        ["content", "role"],
        ["role", "tool_calls"],
        ["content", "role", "tool_call_id"],
    ], turns
    assert turns[0]["content"] == f"I will read {path} first."
    assert turns[1]["tool_calls"][0]["id"] == turns[2]["tool_call_id"] != conformance.LONG_TOOL_ID


def test_what_the_proxy_keeps_from_the_api(vibe_route: Route) -> None:
    """Over the suite, the proxy applied stop_sequences itself (no `stop` reached the API,
    which would end the text without saying which sequence) and asked for parallel calls in
    streamed turns (no `parallel_tool_calls: false` unless the client disabled them: the
    check tool-choice-disable-parallel sends the one request that does); images in tool
    results arrived as text notes (devstral reads text only)."""
    results(vibe_route)
    bodies = [r["body"] for r in vibe_route.sent() if r["body"]]
    assert bodies and not [b for b in bodies if "stop" in b]
    assert len([b for b in bodies if b.get("parallel_tool_calls") is False]) == 1
    sent = json.dumps(bodies)
    assert "image_url" not in sent and "[image omitted: " in sent
