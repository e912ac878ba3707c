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
from pathlib import Path
from typing import Any

import click

VARIABLE = "litellm_gateway_developer_keys"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
HEADER = (
    "# Developer gateway keys: SHA-256 hashes only, never the keys themselves.\n"
    "# Managed with `ccprov keys add|revoke|list -i <inventory>`; apply with\n"
    "# `ansible-playbook playbooks/gateways.yml -i <inventory>` (no gateway restart).\n"
)


class KeysError(click.ClickException):
    pass


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
        raise KeysError(f"inventory {inventory} does not exist; pass -i inventories/<env>")
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
            raise KeysError(
                f"{path} is not valid YAML ({type(exc).__name__}); fix it first"
            ) from None
        if "{{" in str(document.get(VARIABLE, "")):
            raise KeysError(
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


def add(inventory: Path, name: str, out: Path | None, rotate: bool) -> None:
    if not NAME.match(name):
        raise KeysError(f"'{name}' is not a valid name: use lowercase letters, digits, . _ -")
    if out is not None and out.exists():
        raise KeysError(f"{out} exists; choose a new file for the key")
    path = vars_file(inventory)
    document, keys = load(path)
    if name in keys and not keys[name].get("disabled") and not rotate:
        raise KeysError(
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
    click.echo(f"Added a key for '{name}' (hash in {path}).")
    if out is not None:
        click.echo(f"The key is in {out} (mode 0600): hand it over, then delete the file.")
    else:
        click.echo("The key, shown once (store it in vault, give it to the developer):")
        click.echo(key)
    click.echo(
        "Next: `ansible-playbook playbooks/gateways.yml -i <inventory>` (no restart), and the "
        f"developer runs `ccprov workstation --token-stdin` (or put it in vault as "
        f"vault_developer_keys.{name} for site.yml)."
    )


def revoke(inventory: Path, name: str) -> None:
    path = vars_file(inventory)
    document, keys = load(path)
    if name not in keys:
        known = ", ".join(keys) or "none"
        raise KeysError(f"no key named '{name}' in {path} (known: {known})")
    keys[name]["disabled"] = True
    keys[name]["revoked"] = dt.date.today().isoformat()
    save(path, document)
    click.echo(
        f"Revoked '{name}' in {path}. Apply it: `ansible-playbook playbooks/gateways.yml -i "
        "<inventory>`; the gateway then answers that key with 401, without a restart."
    )


def listing(inventory: Path) -> None:
    path = vars_file(inventory)
    _, keys = load(path) if path.exists() else (None, {})
    if not keys:
        click.echo(f"No developer keys in {path}.")
        return
    click.echo(f"{'NAME':<24} {'CREATED':<11} STATE")
    for name, entry in keys.items():
        state = f"revoked {entry.get('revoked', '')}".strip() if entry.get("disabled") else "active"
        click.echo(f"{name:<24} {entry.get('created', '?')!s:<11} {state}")
