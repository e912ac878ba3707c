"""ccprov's private CA: what it may sign, and the one kind of certificate it signs.

One copy of the rules, used by `ccprov ca init`/`rotate` (src/ccprov/gateway/ca.py, which loads this
file by path) and by the module that signs a gateway's certificate on the controller
(plugins/modules/gateway_certificate.py).

- The CA carries critical name constraints on DNS names: the inventory's gateway names
  only. A client that checks them (OpenSSL: Node, Python, curl; BoringSSL: the claude CLI's
  Bun) refuses any other name even if the CA key signs it. Addresses are not constrained:
  Bun refuses every certificate that lists an address under a CA with address constraints
  (UNSUPPORTED_CONSTRAINT_TYPE), and gateways are often reached by address. The signer
  still signs only the inventory's addresses.
- A gateway's certificate is built from its public key and the inventory's names, never from
  a request the gateway made: CA:FALSE, digitalSignature, serverAuth, those names only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

# A DNS subtree nothing can be named in (RFC 2606 reserves .invalid): permitting only it
# closes DNS names for a CA whose gateways are all addresses (a type with no permitted
# subtree is unconstrained, RFC 5280 4.2.1.10).
NO_DNS = "invalid"


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def permitted_names(names: Iterable[str]) -> list[str]:
    """The CA's permitted DNS subtrees for these gateway names: each name itself (a DNS
    constraint covers the name and what is under it), each once, in order; addresses are
    left out (see the module's docstring). Narrow by default: a wider domain is the
    operator's choice (`ccprov ca init --permit`)."""
    out: list[str] = []
    for name in names:
        entry = name.strip().lower().rstrip(".")
        if entry and _ip(entry) is None and entry not in out:
            out.append(entry)
    return out


def name_constraints(permitted: Sequence[str]) -> Any:
    """Critical NameConstraints: DNS subtrees from PERMITTED (only .invalid when there is
    none); no address subtree (see the module's docstring)."""
    from cryptography import x509

    dns = [p for p in permitted if _ip(p) is None and "/" not in p]
    return x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(d) for d in dns or [NO_DNS]], excluded_subtrees=None
    )


def _dns_within(name: str, base: str) -> bool:
    # RFC 5280 4.2.1.10: "host.example.com" permits it and anything under it.
    name, base = name.lower().rstrip("."), base.lower().rstrip(".")
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def outside_constraints(ca_cert: Any, names: Sequence[str]) -> list[str]:
    """The NAMES the CA's name constraints do not allow ([] when it has none: an older CA)."""
    from cryptography import x509

    try:
        nc = ca_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return []
    permitted = list(nc.permitted_subtrees or [])
    excluded = list(nc.excluded_subtrees or [])

    def networks(subtrees: list[Any]) -> list[Any]:
        # Name constraints hold networks (an IPAddress value there is never a single address).
        return [ipaddress.ip_network(s.value) for s in subtrees if isinstance(s, x509.IPAddress)]

    def allowed(name: str) -> bool:
        ip = _ip(name)
        if ip is not None:
            if any(ip in net for net in networks(excluded)):
                return False
            nets = networks(permitted)
            return not nets or any(ip in net for net in nets)
        if any(isinstance(e, x509.DNSName) and _dns_within(name, e.value) for e in excluded):
            return False
        bases = [p.value for p in permitted if isinstance(p, x509.DNSName)]
        return not bases or any(_dns_within(name, b) for b in bases)

    return [n for n in names if not allowed(n)]


def _sans(names: Sequence[str]) -> Any:
    from cryptography import x509

    out: list[x509.GeneralName] = []
    for name in names:
        ip = _ip(name)
        out.append(x509.IPAddress(ip) if ip is not None else x509.DNSName(name.lower()))
    return x509.SubjectAlternativeName(out)


def _server_extensions(
    public_key: Any, ca_cert: Any, names: Sequence[str]
) -> list[tuple[Any, bool]]:
    """(extension, critical) of a gateway certificate, exactly."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (usage, True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        # Critical when the subject is empty (addresses only), as RFC 5280 4.2.1.6 asks.
        (_sans(names), all(_ip(n) is not None for n in names)),
        (x509.SubjectKeyIdentifier.from_public_key(public_key), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), False),
    ]


def _subject(names: Sequence[str]) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    # The first DNS name (the SANs are what clients check; OpenSSL also checks a host-like
    # CN against the CA's DNS constraints, so an address never goes in it).
    dns = [n for n in names if _ip(n) is None]
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, dns[0].lower())] if dns else []
    return x509.Name(attrs)


def problems_with(
    current_pem: bytes,
    public_key_pem: bytes,
    names: Sequence[str],
    ca_cert: Any,
    renew_days: int,
    now: dt.datetime,
) -> list[str]:
    """Why CURRENT is not the certificate the CA would sign now ([] when it is)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(current_pem)
    except ValueError:
        return ["not a PEM certificate"]
    reasons = []
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        reasons.append("not signed by this CA")
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    wanted_key = serialization.load_pem_public_key(public_key_pem)
    if cert.public_key().public_bytes(*spki) != wanted_key.public_bytes(*spki):
        reasons.append("for another key")
    expected = {type(e): (e, crit) for e, crit in _server_extensions(wanted_key, ca_cert, names)}
    got = {type(e.value): (e.value, e.critical) for e in cert.extensions}
    if got != expected:
        reasons.append("other names or uses")
    if cert.subject != _subject(names):
        reasons.append("another subject")
    if cert.not_valid_after_utc - now < dt.timedelta(days=renew_days):
        reasons.append(f"expires within {renew_days} days")
    return reasons


def sign_server(
    public_key_pem: bytes,
    names: Sequence[str],
    ca_cert: Any,
    ca_key: Any,
    days: int,
    now: dt.datetime,
) -> bytes:
    """A gateway certificate (PEM) for PUBLIC_KEY_PEM and NAMES, signed by the CA; it never
    outlives the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = serialization.load_pem_public_key(public_key_pem)
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < 256:
            raise ValueError(f"the gateway's EC key is {key.curve.key_size} bits; 256 or more")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"the gateway's RSA key is {key.key_size} bits; 2048 or more")
    else:
        raise ValueError("the gateway's key is neither EC nor RSA")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_subject(names))
        .issuer_name(ca_cert.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        # A day back: a gateway whose clock is a little behind still accepts it.
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
    )
    for extension, critical in _server_extensions(key, ca_cert, names):
        builder = builder.add_extension(extension, critical=critical)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


def write_new(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """Write NAME in the directory atomically and only if it does not exist: a temporary
    file (O_EXCL, O_NOFOLLOW, its final mode before any byte), then a hard link to NAME,
    which fails rather than replace anything (a symlink included). The CA's files
    (src/ccprov/gateway/ca.py) and the gateway's key (plugins/modules/gateway_key.py)."""
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(
        tmp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        mode,
        dir_fd=dir_fd,
    )
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.unlink(tmp, dir_fd=dir_fd)
