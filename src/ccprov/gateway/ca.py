"""`ccprov ca init -i INVENTORY`: the inventory's private CA for the gateways' TLS.

Made once in `<inventory dir>/ccprov-ca/`: `ca.key` (EC P-256, PEM, unencrypted, 0600) and
`ca.crt` (self-signed, 3 years, CA:TRUE pathlen 0, critical name constraints: the
inventory's gateway DNS names only, so even its own key cannot vouch for api.anthropic.com
to a workstation). The gateway role signs each gateway's certificate with
them (`ccprov_ca_dir`, plugins/module_utils/gateway_ca.py); workstations get `ca.crt`
(`workstation_gateway_ca_file`). `init` never replaces a CA; `rotate` retires it (to
`retired/<time>/`) and makes a new one: the way to revoke everything it signed.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import ipaddress
import os
import re
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

from ccprov import paths
from ccprov.errors import CcprovError

DIR_NAME = "ccprov-ca"
KEY_NAME = "ca.key"
CERT_NAME = "ca.crt"
VALID_DAYS = 1095
RETIRED = "retired"
# A DNS name or domain (".example.org": its subdomains only), as name constraints take it.
_NAME = re.compile(r"\.?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


@cache
def rules() -> ModuleType:
    """plugins/module_utils/gateway_ca.py, the one copy of what the CA signs."""
    path = paths.data_dir() / "plugins/module_utils/gateway_ca.py"
    spec = importlib.util.spec_from_file_location("ccprov_gateway_ca", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class CA:
    """The inventory's CA: made now (CREATED) or found as it was."""

    name: str
    """The new CA's common name; empty for one that existed."""
    cert_path: Path
    key_path: Path
    created: bool
    permitted: tuple[str, ...] = ()
    """What the CA may sign (its name constraints); () for an older CA without any."""
    retired: Path | None = None
    """Where `rotate` moved the CA it replaced."""


def ca_dir(inventory: Path) -> Path:
    if not inventory.exists():
        raise CcprovError(f"inventory {inventory} does not exist; pass -i inventories/<env>")
    root = inventory if inventory.is_dir() else inventory.parent
    return root.resolve() / DIR_NAME


def _kind(path: Path) -> str:
    """'missing', 'file', 'symlink' or 'other'."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "file" if stat.S_ISREG(mode) else "other"


def gateway_names(inventory: Path) -> list[str]:
    """Every name the inventory's gateways serve: litellm_gateway_server_names where the
    inventory sets it as a list, else the role's default (the host's name and address)."""
    from ccprov.fleet import inventory as inventory_mod

    names: list[str] = []
    for host in inventory_mod.load(inventory):
        if "gateways" not in host.groups:
            continue
        given = host.variables.get("litellm_gateway_server_names")
        if isinstance(given, list) and all(isinstance(n, str) and "{{" not in n for n in given):
            names += given
        else:
            names += [host.name, host.address]
        # The gateways' shared address's name (litellm_gateway_vip_name, issue #29).
        vip_name = host.variables.get("litellm_gateway_vip_name")
        if isinstance(vip_name, str) and vip_name and "{{" not in vip_name:
            names.append(vip_name)
    return names


def _permitted(inventory: Path, permit: Sequence[str]) -> tuple[str, ...]:
    """PERMIT as given (DNS names or domains), else the inventory's gateway names (the DNS
    ones: see plugins/module_utils/gateway_ca.py for why addresses are not constrained)."""
    given = [p.strip().lower().rstrip(".") for p in permit if p.strip()]
    for entry in given:
        if _network(entry):
            raise CcprovError(
                f"--permit {entry}: the CA constrains DNS names only (the claude CLI refuses"
                " any address under a CA that constrains addresses); the gateways' addresses"
                " are signed as the inventory lists them: drop it"
            )
        if not _NAME.fullmatch(entry):
            raise CcprovError(
                f"--permit {entry!r} is not a DNS name or domain; give e.g. --permit example.org"
            )
    permitted = tuple(dict.fromkeys(given)) or tuple(
        rules().permitted_names(gateway_names(inventory))
    )
    if not permitted:
        raise CcprovError(
            f"no gateway in {inventory} to take the CA's names from: add the gateways first,"
            " or name what the CA may sign with --permit (e.g. --permit example.org)"
        )
    return permitted


def constraints(cert_path: Path) -> tuple[str, ...]:
    """The permitted subtrees of an existing CA certificate (() when it has none)."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(name.value) for name in nc.permitted_subtrees or [])


def make_ca(name: str, permitted: Sequence[str]) -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) of a new self-signed CA called NAME that may sign only
    names under PERMITTED."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 or 1)
        # An hour back: a gateway whose clock is a little behind still accepts it.
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(rules().name_constraints(permitted), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        # Strict RFC 5280 checkers (Python 3.13's default, Mistral Vibe's) want it too.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def init(inventory: Path, permit: Sequence[str] = ()) -> CA:
    directory = ca_dir(inventory)
    key_path, cert_path = directory / KEY_NAME, directory / CERT_NAME
    if _kind(directory) == "symlink":
        raise CcprovError(f"{directory} is a symlink; refusing to write a CA key through it")
    if directory.exists() and not directory.is_dir():
        raise CcprovError(f"{directory} exists and is not a directory; move it away and run again")
    kinds = {path: _kind(path) for path in (key_path, cert_path)}
    for path, kind in kinds.items():
        if kind == "symlink":
            raise CcprovError(
                f"{path} is a symlink; refusing to use it: replace it with the real file (or"
                " remove it and the other CA file to make a new CA)"
            )
        if kind == "other":
            raise CcprovError(f"{path} is not a regular file; move it away and run again")
    have_key, have_cert = kinds[key_path] == "file", kinds[cert_path] == "file"
    if have_key and have_cert:
        return CA("", cert_path, key_path, created=False, permitted=constraints(cert_path))
    if have_key != have_cert:
        present, absent = (key_path, cert_path) if have_key else (cert_path, key_path)
        raise CcprovError(
            f"{present} exists but {absent} does not: restore {absent.name} from your backup,"
            f" or remove {present} to make a new CA (the gateways' certificates and every"
            " workstation's CA file then change)"
        )

    return _create(directory, _permitted(inventory, permit))


def _create(directory: Path, permitted: tuple[str, ...]) -> CA:
    key_path, cert_path = directory / KEY_NAME, directory / CERT_NAME
    name = f"ccprov private CA ({directory.parent.name})"
    key_pem, cert_pem = make_ca(name, permitted)
    created = not directory.exists()
    directory.mkdir(mode=0o755, parents=False, exist_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if created:
            os.fchmod(dir_fd, 0o755)  # whatever the umask
        try:
            rules().write_new(dir_fd, KEY_NAME, key_pem, 0o600)
            rules().write_new(dir_fd, CERT_NAME, cert_pem, 0o644)
            # The key is unencrypted: keep it out of a git commit of the inventory.
            if _kind(directory / ".gitignore") == "missing":
                rules().write_new(dir_fd, ".gitignore", f"/{KEY_NAME}\n".encode(), 0o644)
        except FileExistsError as exc:
            raise CcprovError(
                f"{directory / str(exc.filename2 or exc.filename)} appeared while the CA was"
                " being made (another `ccprov ca init`?); run the command again"
            ) from None
    finally:
        os.close(dir_fd)

    return CA(name, cert_path, key_path, created=True, permitted=permitted)


def rotate(inventory: Path, permit: Sequence[str] = ()) -> CA:
    """Retire the CA (moved to retired/<time>/, never deleted) and make a new one: every
    certificate the old one signed stops being trusted once workstations get the new ca.crt."""
    directory = ca_dir(inventory)
    key_path, cert_path = directory / KEY_NAME, directory / CERT_NAME
    if _kind(directory) == "symlink":
        raise CcprovError(f"{directory} is a symlink; refusing to move a CA key through it")
    if _kind(key_path) != "file" or _kind(cert_path) != "file":
        raise CcprovError(f"no CA in {directory} to rotate; make one with `ccprov ca init`")
    permitted = _permitted(inventory, permit)  # before anything moves
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    retired = directory / RETIRED / stamp
    (directory / RETIRED).mkdir(mode=0o700, exist_ok=True)
    retired.mkdir(mode=0o700)
    ignore = directory / RETIRED / ".gitignore"
    if _kind(ignore) == "missing":  # retired keys stay out of a commit too
        ignore.write_text(f"{KEY_NAME}\n", encoding="utf-8")
    os.rename(key_path, retired / KEY_NAME)
    os.rename(cert_path, retired / CERT_NAME)
    made = _create(directory, permitted)
    return CA(made.name, cert_path, key_path, True, made.permitted, retired)
