"""ccprov's CA signs only what the inventory says (issue #28, finding 2).

A red-team pass got certificates for api.anthropic.com, registry.npmjs.org and *.example.org
(server, client and code-signing use) from a forged request, and node with
NODE_EXTRA_CA_CERTS=ca.crt accepted the fake api.anthropic.com. Now the CA is
name-constrained to the inventory's gateway domains (so even its own key cannot vouch for
another name to OpenSSL-based clients: node, Python, curl), and the controller builds each
gateway certificate from the gateway's public key and the inventory's names only
(plugins/module_utils/gateway_ca.py, used by ccprov.stack.gateway_certificate).
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ccprov.cli import cli
from ccprov.gateway import ca

rules = ca.rules()
NOW = dt.datetime.now(dt.UTC)
GATEWAYS = """\
all:
  children:
    gateways:
      hosts:
        gw1.corp.example.org:
          ansible_host: 10.0.0.5
        gw2:
          litellm_gateway_server_names: [llm.example.net, 10.0.0.6]
"""


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inventories") / "prod"
    path.mkdir()
    (path / "hosts.yml").write_text(GATEWAYS)
    made = CliRunner().invoke(cli, ["ca", "init", "-i", str(path)])
    assert made.exit_code == 0, made.output
    assert "constraints): gw1.corp.example.org, llm.example.net\n" in made.output
    return path


def load_ca(ca_dir: Path):
    cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    return cert, key


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def forged(ca_dir: Path, names: list[str]) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """What a thief of the CA key (or a signer that copies a request) would make: a server
    certificate for NAMES, signed by the CA key directly."""
    ca_cert, ca_key = load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), key


def openssl_verify(ca_dir: Path, cert_pem: bytes, tmp_path: Path, name: str) -> str:
    leaf = tmp_path / f"{name}.crt"
    leaf.write_bytes(cert_pem)
    proc = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca_dir / "ca.crt"), str(leaf)],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout + proc.stderr


def test_the_ca_is_name_constrained_to_the_inventorys_gateways(inventory) -> None:
    cert, _ = load_ca(inventory / "ccprov-ca")
    nc = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    # DNS names only: the claude CLI (Bun) refuses any certificate listing an address
    # under a CA with address constraints (tests/cli/test_gateway_tls.py, the real CLI).
    assert [str(g.value) for g in nc.value.permitted_subtrees] == [
        "gw1.corp.example.org",
        "llm.example.net",
    ]
    assert nc.value.excluded_subtrees is None
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365
    assert 2.9 < years < 3.1


@pytest.mark.parametrize(
    "name", ["api.anthropic.com", "registry.npmjs.org", "gitlab.corp.example.org", "example.net"]
)
def test_openssl_refuses_any_other_name_even_signed_by_the_ca_key(inventory, tmp_path, name):
    ca_dir = inventory / "ccprov-ca"
    cert, _ = forged(ca_dir, [name])
    assert "permitted subtree violation" in openssl_verify(ca_dir, cert, tmp_path, "forged")
    # The control: a gateway name under the constraints verifies.
    good, _ = forged(ca_dir, ["gw1.corp.example.org"])
    assert openssl_verify(ca_dir, good, tmp_path, "good").strip().endswith("OK")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_with_the_ca_refuses_a_fake_api_anthropic_com(inventory, tmp_path) -> None:
    """The red team's exact path: node with NODE_EXTRA_CA_CERTS=ca.crt, connecting to a
    server that shows a CA-signed certificate for api.anthropic.com."""
    ca_dir = inventory / "ccprov-ca"

    def handshake(name: str) -> str:
        cert_pem, key = forged(ca_dir, [name])
        (tmp_path / "s.crt").write_bytes(cert_pem)
        (tmp_path / "s.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / "s.crt", tmp_path / "s.key")
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]

        def serve() -> None:
            conn, _ = server.accept()
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        # A reset after the handshake (the server closes at once) is not a refusal.
        script = (
            "let ok=false;const s=require('tls').connect({host:'127.0.0.1',"
            "port:+process.argv[1],servername:process.argv[2]},"
            "()=>{ok=true;console.log('TRUSTED');s.end()});"
            "s.on('error',e=>{if(!ok)console.log('REFUSED '+e.code)})"
        )
        proc = subprocess.run(
            ["node", "-e", script, str(port), name],
            env={"PATH": "/usr/bin:/bin", "NODE_EXTRA_CA_CERTS": str(ca_dir / "ca.crt")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        thread.join(10)
        server.close()
        return proc.stdout.strip()

    assert handshake("api.anthropic.com").startswith("REFUSED")
    assert handshake("gw1.corp.example.org") == "TRUSTED"


def test_a_forged_request_gets_only_the_inventorys_names(inventory) -> None:
    """A rooted gateway asks for other names, CA:TRUE and code signing; the signer takes only
    the public key (what the role reads from the gateway) and the inventory's names."""
    ca_cert, ca_key = load_ca(inventory / "ccprov-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.anthropic.com")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.example.org")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        .sign(key, hashes.SHA256())
    )
    public = request.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    names = ["gw1.corp.example.org", "10.0.0.5"]
    cert = x509.load_pem_x509_certificate(
        rules.sign_server(public, names, ca_cert, ca_key, 180, NOW)
    )
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in sans] == names
    assert cert.subject.rfc4514_string() == "CN=gw1.corp.example.org"
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cert.verify_directly_issued_by(ca_cert)
    assert (
        rules.problems_with(
            cert.public_bytes(serialization.Encoding.PEM), public, names, ca_cert, 30, NOW
        )
        == []
    )


def test_names_outside_the_constraints_are_refused_before_signing(inventory) -> None:
    ca_cert, _ = load_ca(inventory / "ccprov-ca")
    assert rules.outside_constraints(
        ca_cert, ["gw1.corp.example.org", "api.anthropic.com", "10.0.0.5", "10.0.0.7", "::1"]
    ) == ["api.anthropic.com"]


def test_the_certificate_is_kept_until_something_it_says_changes(inventory) -> None:
    ca_cert, ca_key = load_ca(inventory / "ccprov-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    names = ["gw1.corp.example.org"]
    current = rules.sign_server(public_pem(key), names, ca_cert, ca_key, 180, NOW)
    assert rules.problems_with(current, public_pem(key), names, ca_cert, 30, NOW) == []
    other_key = public_pem(ec.generate_private_key(ec.SECP256R1()))
    assert "for another key" in rules.problems_with(current, other_key, names, ca_cert, 30, NOW)
    more = [*names, "10.0.0.5"]
    assert "other names or uses" in rules.problems_with(
        current, public_pem(key), more, ca_cert, 30, NOW
    )
    later = NOW + dt.timedelta(days=160)
    assert "expires within 30 days" in rules.problems_with(
        current, public_pem(key), names, ca_cert, 30, later
    )


def test_rotate_retires_the_old_ca_and_makes_a_constrained_one(tmp_path) -> None:
    inventory = tmp_path / "inventories" / "prod"
    inventory.mkdir(parents=True)
    run = CliRunner().invoke
    assert run(cli, ["ca", "init", "-i", str(inventory), "--permit", "example.org"]).exit_code == 0
    old = (inventory / "ccprov-ca/ca.crt").read_bytes()
    result = run(cli, ["ca", "rotate", "-i", str(inventory), "--permit", "gw.example.net"])
    assert result.exit_code == 0, result.output
    assert "constraints): gw.example.net\n" in result.output
    retired = list((inventory / "ccprov-ca/retired").iterdir())
    stamped = [p for p in retired if p.is_dir()]
    assert len(stamped) == 1 and (stamped[0] / "ca.crt").read_bytes() == old
    assert (stamped[0] / "ca.key").stat().st_mode & 0o077 == 0
    assert (inventory / "ccprov-ca/retired/.gitignore").read_text() == "ca.key\n"
    assert (inventory / "ccprov-ca/ca.crt").read_bytes() != old
    assert ca.constraints(inventory / "ccprov-ca/ca.crt") == ("gw.example.net",)


def test_bad_permit_and_an_empty_inventory_are_one_line_errors(tmp_path) -> None:
    inventory = tmp_path / "inventories" / "dev"
    inventory.mkdir(parents=True)
    run = CliRunner().invoke
    bad = run(cli, ["ca", "init", "-i", str(inventory), "--permit", "*.example.org"])
    assert bad.exit_code != 0 and "--permit '*.example.org' is not a DNS name" in bad.output
    address = run(cli, ["ca", "init", "-i", str(inventory), "--permit", "10.0.0.0/24"])
    assert address.exit_code != 0 and "the CA constrains DNS names only" in address.output
    empty = run(cli, ["ca", "init", "-i", str(inventory)])
    assert empty.exit_code != 0 and "no gateway in" in empty.output
    assert not (inventory / "ccprov-ca").exists()
    assert run(cli, ["ca", "rotate", "-i", str(inventory)]).exit_code != 0


def test_an_old_unconstrained_ca_is_reported(tmp_path) -> None:
    inventory = tmp_path / "inv"
    (inventory / "ccprov-ca").mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .sign(key, hashes.SHA256())
    )
    (inventory / "ccprov-ca/ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (inventory / "ccprov-ca/ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    result = CliRunner().invoke(cli, ["ca", "init", "-i", str(inventory)])
    assert result.exit_code == 0
    assert "no name constraints" in result.output and "ccprov ca rotate" in result.output


def test_the_shared_address_name_is_permitted(tmp_path) -> None:
    """litellm_gateway_vip_name (the gateways' keepalived address, issue #29) is a name the
    certificates carry: `ccprov ca init` permits it with the gateways' own names."""
    inventory = tmp_path / "inventories" / "prod"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(
        "all:\n  children:\n    gateways:\n      hosts:\n"
        "        gw1.corp.example.org: {ansible_host: 10.0.0.11}\n"
    )
    (inventory / "group_vars/gateways.yml").write_text(
        "litellm_gateway_vip: 10.0.0.50/24\nlitellm_gateway_vip_name: llm.corp.example.org\n"
    )
    result = CliRunner().invoke(cli, ["ca", "init", "-i", str(inventory)])
    assert result.exit_code == 0, result.output
    permitted = ca.constraints(inventory / "ccprov-ca/ca.crt")
    assert "llm.corp.example.org" in permitted and "gw1.corp.example.org" in permitted
