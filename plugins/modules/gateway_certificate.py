#!/usr/bin/python
"""Ansible module: sign a gateway's TLS certificate with ccprov's CA, on the controller."""

from __future__ import annotations

import datetime as dt

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ccprov.stack.plugins.module_utils.gateway_ca import (
    outside_constraints,
    problems_with,
    sign_server,
)

DOCUMENTATION = r"""
---
module: gateway_certificate
short_description: A gateway's server certificate from ccprov's CA, built from the inventory
description:
  - Builds the certificate from the gateway's public key and the names the inventory gives,
    never from a certificate request the gateway made; a rooted gateway cannot ask for other
    names, another use or a CA certificate. Server authentication only, CA:FALSE.
  - Refuses names outside the CA's name constraints (C(ccprov ca init)), naming the fix.
  - Keeps I(current) when it is already that certificate and valid for I(renew_days) more.
  - Run it on the controller (C(delegate_to: localhost)), where the CA key is.
options:
  public_key:
    description: The gateway's public key, PEM (C(ccprov.stack.gateway_key) returns it).
    type: str
    required: true
  names:
    description: DNS names and IP addresses the certificate is for; the first DNS name is its CN.
    type: list
    elements: str
    required: true
  ca_dir:
    description: The CA directory (C(ca.crt), C(ca.key)).
    type: path
    required: true
  days:
    description: Days a new certificate is valid (never past the CA's own end).
    type: int
    required: true
  renew_days:
    description: Sign anew when I(current) expires within this many days.
    type: int
    default: 30
  current:
    description: The certificate installed now, PEM; empty when there is none.
    type: str
    default: ""
author: ccprov
"""

EXAMPLES = r"""
- name: Sign the front's certificate on the controller
  ccprov.stack.gateway_certificate:
    public_key: "{{ key_info.public_key }}"
    names: [llm-gateway.example.org, 10.0.0.5]
    ca_dir: inventories/prod/ccprov-ca
    days: 180
  delegate_to: localhost
"""

RETURN = r"""
certificate:
  description: The certificate to install (I(current) when it is kept), PEM.
  type: str
  returned: success
reasons:
  description: Why a new certificate was signed; empty when I(current) was kept.
  type: list
  elements: str
  returned: success
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "public_key": {"type": "str", "required": True},
            "names": {"type": "list", "elements": "str", "required": True},
            "ca_dir": {"type": "path", "required": True},
            "days": {"type": "int", "required": True},
            "renew_days": {"type": "int", "default": 30},
            "current": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    p = module.params
    names = [n.strip() for n in p["names"] if n.strip()]
    if not names:
        module.fail_json(msg="gateway_certificate: no names; set litellm_gateway_server_names")
    try:
        with open(f"{p['ca_dir']}/ca.crt", "rb") as handle:
            ca_cert = x509.load_pem_x509_certificate(handle.read())
        with open(f"{p['ca_dir']}/ca.key", "rb") as handle:
            ca_key = serialization.load_pem_private_key(handle.read(), None)
    except (OSError, ValueError) as exc:
        module.fail_json(
            msg=f"Cannot read ccprov's CA in {p['ca_dir']}: {exc}; run `ccprov ca init`"
        )
    outside = outside_constraints(ca_cert, names)
    if outside:
        module.fail_json(
            msg=f"{', '.join(outside)} outside what the CA may sign (its name constraints);"
            " make a CA that covers them with `ccprov ca rotate -i INVENTORY`"
            " (or fix litellm_gateway_server_names)"
        )
    now = dt.datetime.now(dt.UTC)
    public_key = p["public_key"].encode()
    current = p["current"].encode()
    reasons = (
        problems_with(current, public_key, names, ca_cert, p["renew_days"], now)
        if current.strip()
        else ["no certificate yet"]
    )
    if not reasons:
        module.exit_json(changed=False, certificate=p["current"], reasons=[])
    try:
        cert = sign_server(public_key, names, ca_cert, ca_key, p["days"], now)
    except ValueError as exc:
        module.fail_json(msg=f"gateway_certificate: {exc}")
    module.exit_json(changed=True, certificate=cert.decode(), reasons=reasons)


if __name__ == "__main__":
    main()
