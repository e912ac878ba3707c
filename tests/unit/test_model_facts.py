"""`ccprov status` reads what the downloaded checkpoint says of itself (its tekken version,
a vision part) on each GPU host and warns where it is not what the tests assume."""

from __future__ import annotations

import json
from pathlib import Path

from ccprov.fleet import status as fleet_status
from ccprov.probes import status_probe

MODEL = "mistralai/Devstral-2-123B-Instruct-2512"


def download(hf_home: Path, tekken: dict, params: dict | None = None) -> None:
    """A Hugging Face cache as `hf download MODEL --revision main` leaves it."""
    repo = hf_home / "hub" / ("models--" + MODEL.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd" * 5)
    snapshot = repo / "snapshots" / ("0123abcd" * 5)
    snapshot.mkdir(parents=True)
    (snapshot / "tekken.json").write_text(json.dumps(tekken))
    if params is not None:
        (snapshot / "params.json").write_text(json.dumps(params))


def test_text_only_v13_as_the_tests_assume(tmp_path: Path) -> None:
    download(tmp_path, {"config": {"version": "v13"}, "vocab": []}, {"dim": 1})
    facts = status_probe.model_facts(str(tmp_path), MODEL, "main")
    assert facts == {"tokenizer": "v13", "vision": False}
    assert fleet_status.model_note(facts) == "   model: tekken v13, text-only"


def test_a_vision_part_or_another_version_is_flagged(tmp_path: Path) -> None:
    download(tmp_path, {"config": {"version": "v15"}, "vocab": []}, {"vision_encoder": {"x": 1}})
    facts = status_probe.model_facts(str(tmp_path), MODEL, "main")
    assert facts == {"tokenizer": "v15", "vision": True}
    note = fleet_status.model_note(facts)
    assert note.startswith("   model: tekken v15, vision <- tests assume tekken v13, text-only")


def test_an_image_section_in_the_tokenizer_means_vision(tmp_path: Path) -> None:
    download(tmp_path, {"config": {"version": "v13"}, "image": {"patch_size": 16}})
    assert status_probe.model_facts(str(tmp_path), MODEL, "main")["vision"] is True


def test_nothing_downloaded_says_nothing(tmp_path: Path) -> None:
    assert status_probe.model_facts(str(tmp_path), MODEL, "main") == {}
    assert fleet_status.model_note({}) == ""


def test_a_hostile_version_string_never_reaches_the_terminal_raw() -> None:
    note = fleet_status.model_note({"tokenizer": "v13\x1b[2J\x07", "vision": False})
    assert "\x1b" not in note and "\x07" not in note


def test_the_probe_is_told_where_the_weights_are() -> None:
    from ccprov.fleet import inventory

    host = inventory.Host("gpu1", "10.0.0.5", groups=("gpu_hosts",))
    want = fleet_status.expected(host)["vllm"]
    assert want["model"] == MODEL and want["revision"] == "main"
    assert want["hf_home"] == "/var/lib/vllm/hf"
