"""Read an Ansible inventory the way ansible-playbook does (`ansible-inventory --list`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccprov import paths
from ccprov.errors import CcprovError
from ccprov.runner import ansible_playbook

GROUPS = ("gpu_hosts", "gateways", "workstations")


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    user: str | None = None
    port: int | None = None
    key_file: str | None = None
    connection: str = "ssh"
    groups: tuple[str, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> str:
        """The first of ccprov's groups the host is in (gpu_hosts, gateways, workstations)."""
        return next((group for group in GROUPS if group in self.groups), "other")


def _groups_of(data: dict[str, Any]) -> dict[str, set[str]]:
    """Map host -> every group it is in, children included."""
    member: dict[str, set[str]] = {}

    def walk(group: str, ancestors: tuple[str, ...]) -> None:
        node = data.get(group, {})
        for host in node.get("hosts", []):
            member.setdefault(host, set()).update((*ancestors, group))
        for child in node.get("children", []):
            if child not in ancestors:
                walk(child, (*ancestors, group))

    walk("all", ())
    return member


def _expand(value: str | None, inventory_dir: str) -> str | None:
    """The one Jinja expression inventories commonly use in paths: {{ inventory_dir }}."""
    if value is None:
        return None
    return re.sub(r"\{\{\s*inventory_dir\s*\}\}", inventory_dir, str(value))


def load(
    inventory: Path, limit: str | None = None, vault_args: list[str] | None = None
) -> list[Host]:
    """The hosts of an inventory, with the connection settings Ansible would use."""
    if not inventory.exists():
        raise CcprovError(f"inventory {inventory} does not exist; pass -i inventories/<env>")
    command = [
        str(Path(ansible_playbook()).with_name("ansible-inventory")),
        "-i",
        str(inventory),
        "--list",
        *(vault_args or []),
    ]
    if limit:
        command += ["--limit", limit]
    env = {**os.environ, "ANSIBLE_CONFIG": str(paths.data_dir() / "ansible.cfg")}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise CcprovError(f"cannot read inventory {inventory}: {last}")
    data = json.loads(proc.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    inventory_dir = str((inventory if inventory.is_dir() else inventory.parent).resolve())
    membership = _groups_of(data)
    hosts = []
    for name in sorted(membership):
        hv = hostvars.get(name, {})
        port = hv.get("ansible_port") or hv.get("ansible_ssh_port")
        hosts.append(
            Host(
                name=name,
                address=str(hv.get("ansible_host", name)),
                user=hv.get("ansible_user") or hv.get("ansible_ssh_user"),
                port=int(port) if port else None,
                key_file=_expand(hv.get("ansible_ssh_private_key_file"), inventory_dir),
                connection=str(hv.get("ansible_connection", "ssh")),
                groups=tuple(sorted(membership[name] - {"all", "ungrouped"})),
                variables=hv,
            )
        )
    return hosts
