#!/usr/bin/python
"""Ansible module: the gateway front's private key, made on the host once; its public half."""

from __future__ import annotations

import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccprov.stack.plugins.module_utils.gateway_ca import write_new

DOCUMENTATION = r"""
---
module: gateway_key
short_description: Make the TLS front's EC P-256 key on the host once, and return its public half
description:
  - Makes an EC P-256 private key (PKCS#8 PEM) at I(path) when there is none, written
    atomically with mode 0600 before any byte and never through a symlink; keeps an existing
    one. Then applies I(owner), I(group) and I(mode).
  - Returns the public half for the controller's signer (C(ccprov.stack.gateway_certificate));
    the private key never leaves the host.
  - Needs only python3-cryptography on the host (no Ansible collection).
options:
  path:
    description: Where the key lives.
    type: path
    required: true
extends_documentation_fragment: [files]
author: ccprov
"""

EXAMPLES = r"""
- name: Make the front's key
  ccprov.stack.gateway_key:
    path: /etc/nginx/tls/gateway.key
    owner: root
    group: ccprov-nginx
    mode: "0640"
  register: key
"""

RETURN = r"""
public_key:
  description: The key's public half, PEM (empty in check mode when the key is still to be made).
  type: str
  returned: success
"""


def _new_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_pem(path: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True}},
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        module.fail_json(msg=f"{path} is not a regular file (a symlink?); move it away, run again")
    changed = mode is None
    if changed:
        if module.check_mode:
            module.exit_json(changed=True, public_key="")
        try:
            dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                write_new(dir_fd, os.path.basename(path), _new_key_pem(), 0o600)
            finally:
                os.close(dir_fd)
        except FileExistsError:
            module.fail_json(msg=f"{path} appeared while the key was being made; run again")
    try:
        public = _public_pem(path).decode()
    except (ValueError, TypeError) as exc:
        module.fail_json(msg=f"{path} is not a PEM private key ({exc}); move it away and run again")
    file_args = module.load_file_common_arguments(module.params)
    changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, public_key=public)


if __name__ == "__main__":
    main()
