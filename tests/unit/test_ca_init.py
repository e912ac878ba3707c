"""`ccprov ca init -i INVENTORY`: the inventory's private CA, made once, never replaced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ccprov.cli import cli


def init(inventory: Path):
    return CliRunner().invoke(cli, ["ca", "init", "-i", str(inventory), "--permit", "example.org"])


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_makes_a_ca_certificate_and_a_private_key(tmp_path) -> None:
    inventory = tmp_path / "inventories" / "prod"
    inventory.mkdir(parents=True)
    result = init(inventory)
    assert result.exit_code == 0, result.output
    ca_dir = inventory / "ccprov-ca"
    assert mode(ca_dir) == 0o755
    assert mode(ca_dir / "ca.key") == 0o600
    assert mode(ca_dir / "ca.crt") == 0o644
    cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    key = load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert cert.public_key() == key.public_key()
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=ccprov private CA (prod)"
    cert.verify_directly_issued_by(cert)  # self-signed
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365
    assert 2.9 < years < 3.1
    assert "ansible-playbook site.yml" in result.output and "ca.crt" in result.output
    # The unencrypted key stays out of a commit of the inventory.
    assert (ca_dir / ".gitignore").read_text() == "/ca.key\n"
    assert not [p for p in ca_dir.iterdir() if p.name.endswith(".tmp")]


def test_a_second_run_changes_nothing(tmp_path) -> None:
    assert init(tmp_path).exit_code == 0
    ca_dir = tmp_path / "ccprov-ca"
    before = {p.name: (p.read_bytes(), os.lstat(p).st_mtime_ns) for p in ca_dir.iterdir()}
    again = init(tmp_path)
    assert again.exit_code == 0
    assert f"The CA already exists: {ca_dir / 'ca.crt'}" in again.output
    after = {p.name: (p.read_bytes(), os.lstat(p).st_mtime_ns) for p in ca_dir.iterdir()}
    assert after == before


def test_half_a_ca_fails_clearly_and_writes_nothing(tmp_path) -> None:
    assert init(tmp_path).exit_code == 0
    ca_dir = tmp_path / "ccprov-ca"
    cert = (ca_dir / "ca.crt").read_bytes()
    (ca_dir / "ca.key").unlink()
    result = init(tmp_path)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert f"{ca_dir / 'ca.crt'} exists but {ca_dir / 'ca.key'} does not" in lines[0]
    assert "restore ca.key from your backup, or remove" in lines[0]
    assert not (ca_dir / "ca.key").exists()
    assert (ca_dir / "ca.crt").read_bytes() == cert


def test_a_symlink_at_ca_key_is_refused(tmp_path) -> None:
    ca_dir = tmp_path / "ccprov-ca"
    ca_dir.mkdir()
    target = tmp_path / "elsewhere.key"
    (ca_dir / "ca.key").symlink_to(target)
    result = init(tmp_path)
    assert result.exit_code != 0
    assert f"{ca_dir / 'ca.key'} is a symlink; refusing" in result.output
    assert not target.exists()
    assert not (ca_dir / "ca.crt").exists()


def test_a_missing_inventory_is_named(tmp_path) -> None:
    result = init(tmp_path / "nope")
    assert result.exit_code != 0
    assert "does not exist; pass -i inventories/<env>" in result.output
