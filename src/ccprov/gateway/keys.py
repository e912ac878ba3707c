"""`ccprov keys add|revoke|list`: per-developer gateway keys, kept as hashes in an inventory.

The inventory's gateway variables hold `litellm_gateway_developer_keys` (name -> sha256,
created, disabled). Edits are YAML round trips: comments and order survive. The plain key
is shown once (or written to a 0600 file) and never stored by ccprov.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccprov.errors import CcprovError

VARIABLE = "litellm_gateway_developer_keys"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# The gateway's key hook refuses these in its keys file too (roles/litellm_gateway/files/
# ccprov_auth.py RESERVED): the master key is a role there, and no name may read like it.
RESERVED = frozenset({"ops", "admin", "root", "master", "litellm", "default_user_id"})
HEADER = (
    "# Developer gateway keys: SHA-256 hashes only, never the keys themselves.\n"
    "# Managed with `ccprov keys add|revoke|list -i <inventory>`; apply with\n"
    "# `ansible-playbook playbooks/gateways.yml -i <inventory>` (no gateway restart).\n"
)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.explicit_start = True  # keep the `---` the house style wants
    return yaml


def vars_file(inventory: Path) -> Path:
    """The file that holds (or will hold) the developer keys for the gateways group."""
    root = inventory if inventory.is_dir() else inventory.parent
    if not inventory.exists():
        raise CcprovError(f"inventory {inventory} does not exist; pass -i inventories/<env>")
    group_dir = root / "group_vars" / "gateways"
    candidates = sorted(group_dir.glob("*.yml")) + sorted(group_dir.glob("*.yaml"))
    single = root / "group_vars" / "gateways.yml"
    if single.exists():
        candidates.append(single)
    for path in candidates:
        if re.search(rf"^{VARIABLE}:", path.read_text(encoding="utf-8"), re.M):
            return path
    if single.exists() and not group_dir.exists():
        return single
    return group_dir / "developer_keys.yml"


def load(path: Path) -> tuple[Any, Any]:
    """(document, the keys mapping inside it), creating both when missing."""
    from ruamel.yaml.comments import CommentedMap

    yaml = _yaml()
    if path.exists():
        try:
            document = yaml.load(path.read_text(encoding="utf-8")) or CommentedMap()
        except Exception as exc:  # ruamel raises many types; all mean "not valid YAML"
            raise CcprovError(
                f"{path} is not valid YAML ({type(exc).__name__}); fix it first"
            ) from None
        if "{{" in str(document.get(VARIABLE, "")):
            raise CcprovError(
                f"{VARIABLE} in {path} is a template; ccprov keys needs a plain mapping"
            )
    else:
        document = CommentedMap()
    keys = document.get(VARIABLE)
    if keys is None:
        keys = CommentedMap()
        document[VARIABLE] = keys
    return document, keys


def save(path: Path, document: Any) -> None:
    from io import StringIO

    buffer = StringIO()
    _yaml().dump(document, buffer)
    text = buffer.getvalue()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = text.replace("---\n", "---\n" + HEADER, 1)
    tmp = path.with_name(f".{path.name}.ccprov-tmp")
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        os.chmod(tmp, path.stat().st_mode & 0o777)
    tmp.replace(path)


def new_key() -> str:
    return "sk-ccprov-" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Added:
    """A new key: its hash went to PATH; the key itself is in OUT (mode 0600), or only here."""

    name: str
    path: Path
    key: str
    out: Path | None


def add(inventory: Path, name: str, out: Path | None, rotate: bool) -> Added:
    if not NAME.match(name):
        raise CcprovError(f"'{name}' is not a valid name: use lowercase letters, digits, . _ -")
    if name in RESERVED:
        raise CcprovError(
            f"'{name}' is reserved (it reads like the master key or LiteLLM's own users): "
            "choose another name, e.g. the developer's login"
        )
    if out is not None and out.exists():
        raise CcprovError(f"{out} exists; choose a new file for the key")
    path = vars_file(inventory)
    document, keys = load(path)
    if name in keys and not keys[name].get("disabled") and not rotate:
        raise CcprovError(
            f"'{name}' already has an active key; `ccprov keys revoke {name}` or --rotate"
        )
    key = new_key()
    from ruamel.yaml.comments import CommentedMap

    entry = CommentedMap()
    entry["sha256"] = hashlib.sha256(key.encode()).hexdigest()
    entry["created"] = dt.date.today().isoformat()
    keys[name] = entry
    if out is not None:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
    save(path, document)
    return Added(name, path, key, out)


def revoke(inventory: Path, name: str) -> Path:
    """Mark NAME's key disabled; the file changed."""
    path = vars_file(inventory)
    document, keys = load(path)
    if name not in keys:
        known = ", ".join(keys) or "none"
        raise CcprovError(f"no key named '{name}' in {path} (known: {known})")
    keys[name]["disabled"] = True
    keys[name]["revoked"] = dt.date.today().isoformat()
    save(path, document)
    return path


@dataclass(frozen=True)
class Entry:
    name: str
    created: str
    state: str
    """active, or revoked DATE."""


def listing(inventory: Path) -> tuple[Path, list[Entry]]:
    """The file the keys are in (or would be), and its entries in file order."""
    path = vars_file(inventory)
    _, keys = load(path) if path.exists() else (None, {})
    entries = []
    for name, entry in keys.items():
        state = f"revoked {entry.get('revoked', '')}".strip() if entry.get("disabled") else "active"
        entries.append(Entry(str(name), str(entry.get("created", "?")), state))
    return path, entries


def developers(inventory: Path) -> dict[str, dict[str, Any]]:
    """name -> {created, disabled} of every key in the inventory (no hashes): what
    `ccprov usage` and `keys list --last-use` judge idleness by."""
    path = vars_file(inventory)
    _, keys = load(path) if path.exists() else (None, {})
    return {
        str(name): {"created": entry.get("created"), "disabled": bool(entry.get("disabled"))}
        for name, entry in keys.items()
    }
