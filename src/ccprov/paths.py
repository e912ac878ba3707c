"""Where the Ansible content ccprov runs lives: inside the installed package, or the source tree."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from ccprov.errors import CcprovError

_PACKAGE = Path(__file__).resolve().parent
# Where a collections path entry holds the collection ccprov.stack (galaxy.yml).
_STACK = Path("ansible_collections/ccprov/stack")


@cache
def data_dir() -> Path:
    """The collection ccprov.stack: the directory holding roles/, playbooks/, plugins/ and
    ansible.cfg.

    A wheel carries it under ccprov/_data/collections/ansible_collections/ccprov/stack; an
    editable install or a source checkout uses the repository root, which is the collection.
    """
    for candidate in (_PACKAGE / "_data/collections" / _STACK, _PACKAGE.parent.parent):
        if (candidate / "playbooks").is_dir() and (candidate / "roles").is_dir():
            return candidate
    raise CcprovError(
        "ccprov's playbooks and roles are missing from this installation; reinstall ccprov"
    )


def collections_dir() -> Path:
    """The collections path entry that resolves ccprov.stack to data_dir(): the wheel's
    _data/collections, or a checkout's collections/ (its ansible_collections/ccprov/stack is
    a link to the repository root)."""
    root = data_dir()
    if root.parent.parent.name == "ansible_collections":
        return root.parents[2]
    return root / "collections"


def collections_path(inherited: str | None = None) -> str:
    """ANSIBLE_COLLECTIONS_PATH for ccprov's runs: this installation's ccprov.stack first (so
    never another installed copy), then INHERITED (the caller's own setting), else the
    usual places. Collections installed with pip are found on Python's path as well."""
    rest = inherited or "~/.ansible/collections:/usr/share/ansible/collections"
    return os.pathsep.join([str(collections_dir()), rest])


def playbook(name: str) -> Path:
    return data_dir() / "playbooks" / name


def callback_dir() -> Path:
    return _PACKAGE / "ansible_plugins" / "callback"
