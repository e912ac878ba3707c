"""HTTPS between the gateway and vLLM (issue #17 item 4, for GPU hosts on another network):
vLLM serves HTTPS with its certificate (--ssl-certfile/--ssl-keyfile, as vllm_server_tls_*
make it), the real LiteLLM reaches it over https:// and verifies it against the CA the role
installs as SSL_CERT_FILE (litellm_gateway_backend_ca_file); without that CA the request
fails, nothing is sent in the clear."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccprov.probes import conformance
from tests.cli.tls_gateway import make_ca, sign_leaf
from tests.conformance.conftest import FIXTURES
from tests.conftest import free_port, start_standin
from tests.e2e.conftest import Gateway, start_gateway

KEY = "sk-tls-vllm-key-0123456789abcdef0123"


@pytest.fixture(scope="module")
def https_vllm(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("backend-tls")
    ca_dir = make_ca(tmp / "inventory")
    cert, key = sign_leaf(ca_dir, tmp / "gpu1", ["127.0.0.1"])
    port = free_port()
    proc = start_standin(port, KEY, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    try:
        yield f"https://127.0.0.1:{port}", ca_dir / "ca.crt"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _gateway(tmp: Path, url: str, env: dict[str, str]) -> tuple[object, Gateway]:
    return start_gateway(
        tmp,
        url,
        KEY,
        extra_vars={"litellm_gateway_backends": [{"api_base": f"{url}/v1"}]},
        extra_env=env,
    )


def _ask(gateway: Gateway) -> conformance.Response:
    ctx = conformance.Context(
        conformance.Target(gateway.url, gateway.master_key, "devstral"), FIXTURES
    )
    return ctx.messages({"max_tokens": 16, "messages": [{"role": "user", "content": "Say OK"}]})


def test_vllm_serves_https_only(https_vllm) -> None:
    url, _ = https_vllm
    with pytest.raises(OSError):
        urllib.request.urlopen(url.replace("https://", "http://") + "/health", timeout=5)


def test_gateway_trusts_the_backends_ca(https_vllm, tmp_path) -> None:
    url, ca = https_vllm
    bundle = tmp_path / "backend-ca.pem"
    bundle.write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text() + ca.read_text())
    proc, gateway = _gateway(tmp_path, url, {"SSL_CERT_FILE": str(bundle)})
    try:
        reply = _ask(gateway)
        assert reply.status == 200, reply.body[:500]
        text = "".join(b.get("text", "") for b in json.loads(reply.body)["content"])
        assert text.strip()
    finally:
        proc.terminate()  # type: ignore[attr-defined]
        proc.wait(timeout=20)  # type: ignore[attr-defined]


def test_without_the_ca_the_backend_is_refused(https_vllm, tmp_path) -> None:
    url, _ = https_vllm
    proc, gateway = _gateway(tmp_path, url, {})
    try:
        reply = _ask(gateway)
        assert reply.status >= 500, reply.body[:500]
        assert b"CERTIFICATE_VERIFY_FAILED" in reply.body or b"certificate" in reply.body.lower()
    finally:
        proc.terminate()  # type: ignore[attr-defined]
        proc.wait(timeout=20)  # type: ignore[attr-defined]
