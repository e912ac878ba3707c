"""The gateways' shared address (litellm_gateway_vip, issue #29) as the role renders it:
keepalived's config (VRRP unicast to the other gateways, every gateway BACKUP with
nopreempt, the address on the interface toward the peers, the front's health check), the
check itself, and the front's Host list carrying the address and its name. Rendered from the
role's templates and vars as Ansible does; the site e2e stops the gateway holding it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import role_templates
from tests.support.gateway import role_default

FILES = {
    "keepalived.conf": "etc/keepalived/keepalived.conf.j2",
    "check": "usr/local/libexec/ccprov/gateway-front-check.j2",
    "nginx.conf": "etc/nginx/nginx.conf.j2",
}
VARS: dict[str, Any] = {
    "inventory_hostname": "gw1",
    "ansible_host": "10.0.0.12",
    "litellm_gateway_master_key": "sk-master-render-0123456789abcdef",
    "litellm_gateway_backends": [{"api_base": "http://10.0.0.11:8000/v1"}],
    "litellm_gateway_tls_ca_dir": "/controller/ccprov-ca",
    "__litellm_gateway_resolvers": [],
    "__litellm_gateway_egress_resolved": {},
    "litellm_gateway_vip": "10.0.0.50/24",
    "litellm_gateway_vip_name": "LLM.corp.example.org",
    # playbooks/gateways.yml's first gateway
    "litellm_gateway_vip_peers": ["10.0.0.14", "10.0.0.16"],
    "litellm_gateway_vip_priority": 150,
    # what `ip -o -4 route get <first peer>` says (tasks/configure_vip.yml)
    "__litellm_gateway_vip_route": {"stdout": "10.0.0.14 dev ens5 src 10.0.0.12 uid 0 \\    cache"},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("vip")
    jobs = [role_templates.Job("litellm_gateway", t, tmp / n) for n, t in FILES.items()]
    proc = role_templates.render(tmp / "render", jobs, VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {name: Path(tmp / name).read_text() for name in FILES}


def test_keepalived_pairs_the_gateways_by_unicast(rendered) -> None:
    conf = rendered["keepalived.conf"]
    assert "state BACKUP\n  nopreempt\n  interface ens5\n" in conf
    assert "priority 150\n" in conf and "virtual_router_id 51\n" in conf
    assert "unicast_src_ip 10.0.0.12\n" in conf
    assert "unicast_peer {\n    10.0.0.14\n    10.0.0.16\n  }" in conf
    assert "10.0.0.50/24 dev ens5" in conf
    # The check runs as keepalived_script, never root; two failures move the address.
    assert "script_user keepalived_script" in conf and "enable_script_security" in conf
    assert 'script "/usr/local/libexec/ccprov/gateway-front-check"' in conf
    assert "fall 2" in conf


def test_the_check_asks_the_local_front_for_the_shared_name(rendered) -> None:
    check = rendered["check"]
    assert check.startswith("#!/bin/sh\n")
    port = role_default("litellm_gateway_tls_port")  # the front's default port
    assert f"--resolve llm.corp.example.org:{port}:127.0.0.1" in check
    assert f"https://llm.corp.example.org:{port}/health/liveliness" in check


def test_the_front_serves_the_shared_address_and_its_name(rendered) -> None:
    nginx = rendered["nginx.conf"]
    for name in ('"gw1"', '"10.0.0.12"', '"10.0.0.50"', '"llm.corp.example.org"'):
        assert f"    {name} 1;" in nginx, name
