"""The vibe proxy's config.yaml as the workstation role renders it: its hook first (it reaches
the adapter's chat stream, which a later callback's hook no longer sees), the gateway's
text-only and stop-sequence callbacks, and the text-only flag on Mistral's coding models
only (Devstral's model card: its vision encoder was removed; other Mistral models may read
images). The proxy itself: tests/e2e/test_vibe_conformance.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support import role_templates

TEMPLATE = "home/.config/ccprov/vibe-proxy/config.yaml.j2"
MODELS = ("devstral-medium-latest", "codestral-latest", "mistral-medium-latest")


def test_hooks_in_order_and_text_only_for_the_coding_models(tmp_path: Path) -> None:
    jobs = [
        role_templates.Job(
            "workstation",
            TEMPLATE,
            tmp_path / model,
            {"workstation_vibe_mistral_model": model, "__workstation_vibe_master_key": "k"},
        )
        for model in MODELS
    ]
    rendered = role_templates.render(tmp_path / "work", jobs)
    assert rendered.returncode == 0, rendered.stdout[-2000:]
    configs = {model: yaml.safe_load((tmp_path / model).read_text()) for model in MODELS}
    for config in configs.values():
        assert config["litellm_settings"]["callbacks"] == [
            "ccprov_vibe.mistral_shapes",
            "ccprov_text_only.text_only_blocks",
            "ccprov_stop_sequences.stop_sequences",
        ]
    flags = {m: c["model_list"][0].get("model_info", {}) for m, c in configs.items()}
    assert flags == {
        "devstral-medium-latest": {"ccprov_text_only": True},
        "codestral-latest": {"ccprov_text_only": True},
        "mistral-medium-latest": {},
    }
