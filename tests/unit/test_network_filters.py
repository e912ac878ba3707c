"""The egress allowlist of the gateway and the client allowlist of vLLM, as the roles'
filters build them from inventory data (issue #17 items 3 and 4)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from tests.conftest import REPO, load_file

network = load_file("gw_network", REPO / "plugins/filter/network.py")
clients = load_file("vllm_clients", REPO / "plugins/filter/vllm_clients.py")


def test_backends_and_extra_models_become_endpoints() -> None:
    endpoints = network.litellm_egress_endpoints(
        [{"api_base": "http://10.0.0.11:8000/v1"}, {"api_base": "https://gpu2.lan/v1"}],
        [{"model_name": "mistral", "litellm_params": {"api_base": "https://api.mistral.ai/v1"}}],
    )
    assert endpoints == [
        {"host": "10.0.0.11", "port": 8000},
        {"host": "gpu2.lan", "port": 443},
        {"host": "api.mistral.ai", "port": 443},
    ]
    assert network.litellm_egress_names(endpoints) == ["api.mistral.ai", "gpu2.lan"]


def test_extra_model_without_api_base_is_refused_with_the_fix() -> None:
    with pytest.raises(
        AnsibleFilterError, match=r"has no litellm_params\.api_base.*egress_filter: none"
    ):
        network.litellm_egress_endpoints(
            [], [{"model_name": "m", "litellm_params": {"model": "x"}}]
        )


def test_rules_resolve_names_add_dns_and_skip_loopback() -> None:
    endpoints = [{"host": "127.0.0.1", "port": 8000}, {"host": "gpu2.lan", "port": 8000}]
    rules = network.litellm_egress_rules(
        endpoints,
        {"gpu2.lan": ["10.0.0.12", "fd00::12"]},
        ["10.0.0.53", "127.0.0.53"],
        ["10.9.0.0/16", "[fd00::7]:4317"],
    )
    assert rules == [
        {"net": "10.0.0.12/32", "family": "ip", "port": 8000, "proto": "tcp"},
        {"net": "fd00::12/128", "family": "ip6", "port": 8000, "proto": "tcp"},
        {"net": "10.0.0.53/32", "family": "ip", "port": 53, "proto": "udp"},
        {"net": "10.0.0.53/32", "family": "ip", "port": 53, "proto": "tcp"},
        {"net": "10.9.0.0/16", "family": "ip", "port": None, "proto": "tcp"},
        {"net": "fd00::7/128", "family": "ip6", "port": 4317, "proto": "tcp"},
    ]
    assert network.litellm_ip_allow(rules) == [
        "10.0.0.12/32",
        "10.0.0.53/32",
        "10.9.0.0/16",
        "fd00::12/128",
        "fd00::7/128",
    ]


def test_unresolvable_backend_and_bad_allow_entry_fail_clearly() -> None:
    with pytest.raises(AnsibleFilterError, match=r"gpu9\.lan does not resolve on the gateway"):
        network.litellm_egress_rules([{"host": "gpu9.lan", "port": 8000}], {}, [], [])
    with pytest.raises(AnsibleFilterError, match="not an address or CIDR"):
        network.litellm_egress_rules([], {}, [], ["gpu.lan:80"])


def test_getent_and_resolv_conf_parsing() -> None:
    out = "10.0.0.12       STREAM gpu2.lan\n10.0.0.12       DGRAM\nfd00::12 STREAM\n"
    assert network.getent_addresses(out) == ["10.0.0.12", "fd00::12"]
    conf = "# x\nnameserver 10.0.0.53\nnameserver bogus\nsearch lan\n"
    assert network.resolv_conf_nameservers(conf) == ["10.0.0.53"]


def test_certificate_names() -> None:
    assert network.litellm_tls_sans(["gw1.lan", "10.0.0.2", "fd00::2"]) == [
        "DNS:gw1.lan",
        "IP:10.0.0.2",
        "IP:fd00::2",
    ]


def test_vllm_clients_from_addresses_cidrs_and_names() -> None:
    entries = ["10.0.0.2", "10.1.0.0/24", "gw2.lan", "127.0.0.1"]
    assert clients.vllm_client_names(entries) == ["gw2.lan"]
    found = clients.vllm_client_networks(entries, {"gw2.lan": "10.0.0.3 STREAM gw2.lan\n"})
    assert found == [
        {"net": "10.0.0.2/32", "family": "ip"},
        {"net": "10.1.0.0/24", "family": "ip"},
        {"net": "10.0.0.3/32", "family": "ip"},
    ]
    with pytest.raises(AnsibleFilterError, match="does not resolve on the GPU host"):
        clients.vllm_client_networks(["gw9.lan"], {})
