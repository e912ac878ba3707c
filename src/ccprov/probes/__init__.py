"""Code shipped to a host and run there: standard library only, Python >= 3.7, no import of
the rest of ccprov. status_probe.py and usage_probe.py travel as source over SSH (one file
each, fleet/ssh.py run_probe); conformance.py (with conformance_fixtures/) runs where the
gateway is reached from: `ccprov smoke --conformance` here, or copied to a GPU host."""

from __future__ import annotations

from pathlib import Path


def source(name: str) -> str:
    """The source text of the probe NAME (e.g. "status_probe"), to send to a host."""
    return (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
