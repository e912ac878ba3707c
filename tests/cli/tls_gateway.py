"""A TLS front like the gateway's nginx, on 127.0.0.1: Python's ssl with a certificate signed
by a CA made with `ccprov ca init`, proxying every request to a plain-HTTP backend (the vLLM
stand-in) the way nginx proxies to LiteLLM on 127.0.0.1:4000."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ccprov.cli import cli

# What the tests' gateways are called (the inventories they make have no gateways); their
# addresses are not name-constrained (plugins/module_utils/gateway_ca.py).
TEST_NAMES = ("localhost", "gateway.example.org")


def make_ca(inventory: Path) -> Path:
    """`ccprov ca init -i INVENTORY --permit` the test names; the CA directory."""
    inventory.mkdir(parents=True, exist_ok=True)
    permits = [arg for name in TEST_NAMES for arg in ("--permit", name)]
    result = CliRunner().invoke(cli, ["ca", "init", "-i", str(inventory), *permits])
    assert result.exit_code == 0, result.output
    return inventory.resolve() / "ccprov-ca"


def sign_leaf(ca_dir: Path, out: Path, names: list[str]) -> tuple[Path, Path]:
    """A server certificate for NAMES (DNS names or IP addresses) signed by the CA the way
    a gateway's is (the signer the role runs, plugins/module_utils/gateway_ca.py):
    (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ccprov.gateway import ca

    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cert_pem = ca.rules().sign_server(public, names, ca_cert, ca_key, 1, dt.datetime.now(dt.UTC))
    out.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = out / "server.crt", out / "server.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


@contextmanager
def tls_proxy(backend: str, cert_file: Path, key_file: Path) -> Iterator[str]:
    """https://127.0.0.1:PORT in front of BACKEND (http://...); yields the https URL."""
    opener = urllib.request.build_opener(_NoRedirect)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            request = urllib.request.Request(backend + self.path, data=body, method=self.command)
            for name, value in self.headers.items():
                if name.lower() not in ("host", "content-length", "connection"):
                    request.add_header(name, value)
            try:
                with opener.open(request, timeout=60) as response:
                    status, headers, payload = response.status, response.headers, response.read()
            except urllib.error.HTTPError as exc:
                status, headers, payload = exc.code, exc.headers, exc.read()
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _forward

        def log_message(self, *_args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[Any, Any]:
            sock, address = super().get_request()
            return context.wrap_socket(sock, server_side=True), address

        def handle_error(self, *_args: object) -> None:
            pass  # a client refusing the certificate is what some tests expect

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
