"""Redis between gateways over TLS (issue #28): the Redis the first gateway shares serves
TLS only, with the front's certificate, and every LiteLLM that uses it (its own workers at
its address, the other gateways) verifies it; a loopback-only Redis stays plain. Rendered
from the role's templates and vars as Ansible does; the site end-to-end test runs it between
two real gateways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import role_templates

FILES = {
    "config.yaml": "etc/litellm/config.yaml.j2",
    "redis.conf": "etc/redis/redis.conf.j2",
    "redis.drop-in": "etc/systemd/system/redis-server.service.d/ccprov.conf.j2",
}
COMMON: dict[str, Any] = {
    "litellm_gateway_master_key": "sk-master-render-0123456789abcdef",
    "litellm_gateway_backends": [{"api_base": "http://10.0.0.11:8000/v1"}],
    "litellm_gateway_tls_ca_dir": "/controller/ccprov-ca",
    "litellm_gateway_workers": 2,
    "__litellm_gateway_resolvers": [],
    "__litellm_gateway_egress_resolved": {},
}
CASES: dict[str, dict[str, Any]] = {
    # playbooks/gateways.yml's first gateway: its Redis, shared with gw2.
    "first": {
        "inventory_hostname": "gw1",
        "ansible_host": "10.0.0.12",
        "litellm_gateway_redis": "local",
        "litellm_gateway_redis_bind": "10.0.0.12",
        "litellm_gateway_redis_clients": ["10.0.0.14"],
    },
    # The others: the first one's Redis.
    "other": {
        "inventory_hostname": "gw2",
        "ansible_host": "10.0.0.14",
        "litellm_gateway_redis_host": "10.0.0.12",
    },
    # One gateway, several workers: Redis on loopback, plain.
    "alone": {"inventory_hostname": "gw1", "litellm_gateway_redis": "local"},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("redis-tls")
    jobs = [
        role_templates.Job("litellm_gateway", template, tmp / case / name, variables)
        for case, variables in CASES.items()
        for name, template in FILES.items()
    ]
    for case, variables in CASES.items():
        jobs += role_templates.allowlist_jobs("litellm_gateway", tmp / case, variables)
    proc = role_templates.render(tmp / "render", jobs, COMMON)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {
        case: {path.name: path.read_text() for path in Path(tmp / case).iterdir()} for case in CASES
    }


def redis_clients(config_text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(router_settings' Redis, general_settings.coordination_redis) of a config."""
    config = yaml.safe_load(config_text)
    return config["router_settings"], config["general_settings"]["coordination_redis"]


def test_the_shared_redis_serves_tls_only_with_the_fronts_certificate(rendered) -> None:
    conf = rendered["first"]["redis.conf"]
    assert "\nport 0\n" in conf and "\ntls-port 6379\n" in conf
    assert "tls-cert-file /etc/redis/tls/redis.crt" in conf
    assert "bind 127.0.0.1 -::1 10.0.0.12" in conf
    # Its own workers reach it at its address (the certificate's name), so systemd's filter
    # lets that address in besides the other gateway.
    assert "IPAddressAllow=localhost 10.0.0.12 10.0.0.14" in rendered["first"]["redis.drop-in"]
    # And the egress allowlist's input chain: only that gateway (and loopback) opens the port.
    chain = rendered["first"]["allowlist.nft"].split("chain input {", 1)[1]
    assert [line.strip() for line in chain.splitlines()[2:6]] == [
        "tcp dport != 6379 accept",
        'iifname "lo" accept',
        "ip saddr 10.0.0.14/32 accept",
        "counter reject with tcp reset",
    ]
    assert "chain input" not in rendered["other"]["allowlist.nft"]


@pytest.mark.parametrize("case", ["first", "other"])
def test_every_litellm_using_it_verifies_it(rendered, case) -> None:
    router, coordination = redis_clients(rendered[case]["config.yaml"])
    wanted = {"ssl": True, "ssl_ca_certs": "/etc/litellm/redis-ca.pem", "ssl_cert_reqs": "required"}
    assert router["redis_host"] == "10.0.0.12" and router["cache_kwargs"] == wanted
    assert coordination["host"] == "10.0.0.12"
    assert {k: coordination[k] for k in wanted} == wanted
    assert coordination["password"] == "os.environ/LITELLM_REDIS_PASSWORD"
    # LiteLLM's user may open that one port there.
    assert (
        'meta skuid "litellm" ip daddr 10.0.0.12/32 tcp dport 6379 accept'
        in (rendered[case]["allowlist.nft"])
    )


def test_a_loopback_redis_stays_plain(rendered) -> None:
    conf = rendered["alone"]["redis.conf"]
    assert "\nport 6379\n" in conf and "tls-port" not in conf
    router, coordination = redis_clients(rendered["alone"]["config.yaml"])
    assert router["redis_host"] == "127.0.0.1" and "cache_kwargs" not in router
    assert coordination["host"] == "127.0.0.1" and "ssl" not in coordination
