"""Where the Ansible content ccprov runs lives: inside the installed package, or the source tree."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ccprov.errors import CcprovError

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir() -> Path:
    """The directory holding roles/, playbooks/ and ansible.cfg.

    A wheel carries them under ccprov/_data; an editable install or a source checkout
    uses the repository root.
    """
    for candidate in (_PACKAGE / "_data", _PACKAGE.parent.parent):
        if (candidate / "playbooks").is_dir() and (candidate / "roles").is_dir():
            return candidate
    raise CcprovError(
        "ccprov's playbooks and roles are missing from this installation; reinstall ccprov"
    )


def playbook(name: str) -> Path:
    return data_dir() / "playbooks" / name


def callback_dir() -> Path:
    return _PACKAGE / "ansible_plugins" / "callback"
