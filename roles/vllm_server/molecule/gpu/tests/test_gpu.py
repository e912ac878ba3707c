"""On a real GPU host: the service answers a multi-turn tool conversation (upgrade smoke)."""

from __future__ import annotations

import json
import os

KEY = os.environ.get("CCPROV_GPU_API_KEY", "sk-gpu-optin-molecule-0123456789abcdef")


def test_serves_devstral(host) -> None:
    assert host.service("vllm").is_running
    out = host.check_output(
        f"curl -sf http://127.0.0.1:8000/v1/models -H 'Authorization: Bearer {KEY}'"
    )
    assert "devstral" in out


def test_multi_turn_tool_round_trip(host) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "Read",
                "parameters": {
                    "type": "object",
                    "properties": {"file_path": {"type": "string"}},
                    "required": ["file_path"],
                },
            },
        }
    ]
    first = {
        "model": "devstral",
        "tools": tools,
        "messages": [{"role": "user", "content": "Use the Read tool to read /etc/hostname."}],
    }
    reply = json.loads(
        host.check_output(
            "curl -sf http://127.0.0.1:8000/v1/chat/completions -H 'content-type: application/json'"
            " "
            f"-H 'Authorization: Bearer {KEY}' -d '{json.dumps(first)}'"
        )
    )
    call = reply["choices"][0]["message"]["tool_calls"][0]
    second = {
        **first,
        "messages": [
            *first["messages"],
            reply["choices"][0]["message"],
            {"role": "tool", "tool_call_id": call["id"], "content": "gpu-host"},
        ],
    }
    answer = json.loads(
        host.check_output(
            "curl -sf http://127.0.0.1:8000/v1/chat/completions -H 'content-type: application/json'"
            " "
            f"-H 'Authorization: Bearer {KEY}' -d '{json.dumps(second)}'"
        )
    )
    assert answer["choices"][0]["message"]["content"]


def test_conformance_suite_against_real_vllm(host) -> None:
    """The suite CI runs against the stand-in (src/ccprov/probes/conformance.py, stdlib only),
    copied to the GPU host and run against real vLLM's own /v1/messages: the first real
    host proves or refutes the stand-in. The key goes in the environment, never argv."""
    from pathlib import Path

    import ccprov.probes.conformance as suite

    source = Path(suite.__file__)
    host.run("mkdir -p /tmp/ccprov-conformance/fixtures")
    for path, dest in [(source, "conformance.py")] + [
        (f, f"fixtures/{f.name}") for f in sorted(suite.FIXTURES.glob("*.json"))
    ]:
        host.ansible(
            "copy", f"src={path} dest=/tmp/ccprov-conformance/{dest} mode=0644", check=False
        )
    host.ansible(
        "copy",
        f"content={KEY} dest=/tmp/ccprov-conformance/key mode=0600",
        check=False,
    )
    # The key reaches the suite through its environment (read from the 0600 file), not argv.
    run = host.run(
        'cd /tmp/ccprov-conformance && CCPROV_CONFORMANCE_KEY="$(cat key)" python3 conformance.py'
        " http://127.0.0.1:8000 --model devstral --fixtures fixtures"
    )
    print(run.stdout)
    assert run.rc == 0, run.stdout + run.stderr
