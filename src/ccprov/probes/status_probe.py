"""Report one host's ccprov services. Runs ON the host (sent over SSH by `ccprov status -i`).

Standard library only, Python >= 3.7; prints one JSON document. Reads only.

Its one argument (JSON) says what to look at, per unit: {"vllm": {"port": 8000, "root":
"/opt/vllm", "health": "/health"}, "nginx": {}}. The controller takes the ports and install
roots from the inventory or the roles' defaults; nothing about them is written here.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def _run(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A health URL that redirects is not the service: report it, do not follow it."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _health(port: int, path: str) -> str:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return "ok" if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        if not 300 <= exc.code < 400:
            return f"down ({exc.reason})"
        location = (exc.headers.get("Location") or "") if exc.headers else ""
        return f"HTTP {exc.code} (redirects to {location[:200] or '?'}, not followed)"
    except OSError as exc:
        return f"down ({getattr(exc, 'reason', exc)})"


def metric_totals(text: str) -> dict[str, float]:
    """Prometheus text (vLLM's /metrics) as {metric name: the sum of its samples}: a series
    per label set adds up, e.g. one per engine (vllm/v1/metrics/loggers.py:499-504) or per
    finished_reason (loggers.py:808-811). Comments and lines that do not parse are skipped:
    a host's answer is not trusted to be well formed."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        totals[name] = totals.get(name, 0.0) + value
    return totals


def prefix_cache_hit_rate(metrics: str) -> str:
    """vLLM's prefix-cache hit rate since it started, from its Prometheus counters (in
    tokens, one series per engine: vllm/v1/metrics/loggers.py:661-679, prefix_cache_queries
    and prefix_cache_hits): "87.5%", or "-" before the first query or without the counters."""
    totals = metric_totals(metrics)
    queries = totals.get("vllm:prefix_cache_queries_total", 0.0)
    if queries <= 0:
        return "-"
    return f"{100 * totals.get('vllm:prefix_cache_hits_total', 0.0) / queries:.1f}%"


def _metrics(port: int) -> str:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read(4_000_000).decode("utf-8", "replace"))
    except OSError:
        return ""


def model_facts(hf_home: str, model: str, revision: str) -> dict[str, Any]:
    """What the downloaded checkpoint says of itself (Hugging Face's cache layout:
    HF_HOME/hub/models--ORG--NAME/{refs/REV,snapshots/COMMIT}): the tekken tokenizer's
    version (`tekken.json` config.version) and whether it has a vision part (`params.json`
    vision_encoder, or an `image` section in tekken.json). Empty without a download."""
    repo = os.path.join(hf_home, "hub", "models--" + model.replace("/", "--"))
    commit = revision
    try:
        with open(os.path.join(repo, "refs", revision), encoding="utf-8") as ref:
            commit = ref.read().strip()
    except OSError:
        pass
    snapshot = os.path.join(repo, "snapshots", commit)
    facts: dict[str, Any] = {}
    try:
        with open(os.path.join(snapshot, "tekken.json"), encoding="utf-8") as f:
            tekken = json.load(f)
        facts["tokenizer"] = str((tekken.get("config") or {}).get("version") or "?")
        facts["vision"] = bool(tekken.get("image"))
    except (OSError, ValueError, AttributeError):
        return facts
    try:
        with open(os.path.join(snapshot, "params.json"), encoding="utf-8") as f:
            facts["vision"] = facts["vision"] or bool(json.load(f).get("vision_encoder"))
    except (OSError, ValueError, AttributeError):
        pass
    return facts


def service(unit: str, root: str, port: int, path: str) -> dict[str, Any]:
    """UNIT's state, the version ROOT/current points at, and its health at PATH on PORT."""
    current = os.path.join(root, "current")
    installed = os.path.basename(os.path.realpath(current)) if os.path.islink(current) else ""
    state = _run("systemctl", "is-active", f"{unit}.service") or "unknown"
    found = {
        "active": state,
        "installed": installed,
        "health": _health(port, path) if state == "active" else "-",
    }
    if unit == "vllm":
        found["prefix_cache"] = prefix_cache_hit_rate(_metrics(port)) if state == "active" else "-"
    return found


GATEWAY_CERT = "/etc/nginx/tls/gateway.crt"
"""The front's certificate (roles/litellm_gateway, __litellm_gateway_tls_cert)."""


def cert_days_left(path: str = GATEWAY_CERT, now: float | None = None) -> str:
    """Whole days until PATH's certificate expires (negative once it has), or "" unreadable.
    openssl reads it: the host has no Python X.509 parser, and ssl parses its date."""
    out = _run("openssl", "x509", "-enddate", "-noout", "-in", path)
    if not out.startswith("notAfter="):
        return ""
    try:
        end = ssl.cert_time_to_seconds(out.split("=", 1)[1].strip())
    except ValueError:
        return ""
    return str(math.floor((end - (time.time() if now is None else now)) / 86400))


def gpus() -> list[str]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    # The same query as the GPU preflight: index, name, cc, total, free, driver.
    out = _run(
        smi,
        "--query-gpu=index,name,compute_cap,memory.total,memory.free,driver_version",
        "--format=csv,noheader,nounits",
    )
    found = []
    for line in out.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 6:
            found.append(f"{fields[1]} ({fields[4]}/{fields[3]} MiB free)")
    return found


def main(argv: list[str]) -> int:
    wanted = json.loads(argv[1]) if len(argv) > 1 else {}
    report: dict[str, Any] = {"services": {}, "gpus": gpus()}
    for unit, want in wanted.items():
        if unit == "nginx":
            # The gateway's TLS front: whether it runs, and how long its certificate lasts
            # (a loopback request could not verify it: it is for the gateway's names).
            state = _run("systemctl", "is-active", "nginx.service") or "unknown"
            report["services"][unit] = {"active": state, "cert_days": cert_days_left()}
        else:
            report["services"][unit] = service(
                unit, str(want["root"]), int(want["port"]), str(want["health"])
            )
            if unit == "vllm" and want.get("model"):
                report["services"][unit]["model"] = model_facts(
                    str(want["hf_home"]), str(want["model"]), str(want["revision"])
                )
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
