"""The LM Studio stand-in (tests/standins/lmstudio) keeps what LM Studio's docs and logs say."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.ollama_standin import running_lmstudio
from tests.unit.test_ollama_standin import SAY_OK, call


def test_what_lmstudio_answers(tmp_path: Path) -> None:
    with running_lmstudio(tmp_path) as server:
        # Any other route, count_tokens included: 200 and an error (lmstudio-bug-tracker#618,
        # #2055), the query kept (#1323).
        counted = call(server, "/v1/messages/count_tokens?beta=true", SAY_OK)
        other = call(server, "/api/health")
        listed = json.loads(call(server, "/api/v1/models")[2])["models"][0]
        # Loaded with 4096 tokens: a long prompt is refused (Gitlawb/openclaude#353).
        long = {**SAY_OK, "system": "Rules. " * 5000}
        refused = call(server, "/v1/messages", long)
        answered = call(server, "/v1/messages", {**SAY_OK, "stream": True})
    assert counted[0] == 200
    assert json.loads(counted[2]) == {
        "error": "Unexpected endpoint or method. (POST /v1/messages/count_tokens?beta=true)"
    }
    assert (other[0], json.loads(other[2])) == (
        200,
        {"error": "Unexpected endpoint or method. (GET /api/health)"},
    )
    # 1_developer/2_rest/list.md: key, max_context_length, loaded_instances[].config.
    assert listed["key"] == "devstral" and listed["max_context_length"] == 131072
    assert listed["loaded_instances"] == [{"id": "devstral", "config": {"context_length": 4096}}]
    assert refused[0] == 400
    assert "greater than the context length (n_keep: " in json.loads(refused[2])["error"]
    assert ">= n_ctx: 4096). Try to load the model with a larger context length" in refused[2]
    assert answered[0] == 200 and '"text_delta", "text": "OK"' in answered[2]
