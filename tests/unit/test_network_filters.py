"""The egress allowlist of the gateway and the client allowlist of vLLM, as the roles'
filters build them from inventory data (issue #17 items 3 and 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from tests.conftest import REPO, load_file
from tests.support import role_templates

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


def test_backend_ports_keep_loopback_and_resolve_names() -> None:
    """vLLM's own address:port pairs, loopback included (a vLLM on the gateway host is as
    open to its other users as one elsewhere)."""
    endpoints = [
        {"host": "127.0.0.1", "port": 8000},
        {"host": "gpu2.lan", "port": 8001},
        {"host": "127.0.0.1", "port": 8000},
    ]
    assert network.litellm_backend_ports(endpoints, {"gpu2.lan": ["10.0.0.12", "fd00::12"]}) == [
        {"net": "127.0.0.1/32", "family": "ip", "port": 8000},
        {"net": "10.0.0.12/32", "family": "ip", "port": 8001},
        {"net": "fd00::12/128", "family": "ip6", "port": 8001},
    ]


# --- The rendered egress filter on either cgroup hierarchy (issue #28) --------------------
EGRESS = {
    "egress.nft": "etc/ccprov/litellm-egress.nft.j2",
    "litellm.service": "etc/systemd/system/litellm.service.j2",
    "nginx.service": "etc/systemd/system/nginx.service.j2",
}
GATEWAY: dict[str, Any] = {
    "inventory_hostname": "gw1",
    "litellm_gateway_egress_filter": "auto",
    "__litellm_gateway_resolvers": ["10.0.0.53"],
    "__litellm_gateway_egress_resolved": {"gpu2.lan": ["10.0.0.12"]},
}
# name -> variables: the unified hierarchy or not, backends by address or by name.
CASES: dict[str, dict[str, Any]] = {
    "v2": {
        "__litellm_gateway_cgroup2": True,
        "litellm_gateway_backends": [
            {"api_base": "http://127.0.0.1:8000/v1"},
            {"api_base": "http://10.0.0.11:8001/v1"},
        ],
    },
    "v1": {
        "__litellm_gateway_cgroup2": False,
        "litellm_gateway_backends": [
            {"api_base": "http://127.0.0.1:8000/v1"},
            {"api_base": "http://10.0.0.11:8001/v1"},
        ],
    },
    "names": {
        "__litellm_gateway_cgroup2": True,
        "litellm_gateway_backends": [{"api_base": "http://gpu2.lan:8000/v1"}],
        "litellm_gateway_metrics_clients": ["10.9.0.0/16"],
    },
}


@pytest.fixture(scope="module")
def egress(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Each case's files, all in one ansible-playbook run."""
    tmp = tmp_path_factory.mktemp("egress")
    jobs = [
        role_templates.Job("litellm_gateway", template, tmp / case / name, variables)
        for case, variables in CASES.items()
        for name, template in EGRESS.items()
    ]
    proc = role_templates.render(tmp / "render", jobs, GATEWAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {case: {name: Path(tmp / case / name).read_text() for name in EGRESS} for case in CASES}


def output_rules(nft: str) -> list[str]:
    chain = nft.split("chain output {", 1)[1].split("}\n", 1)[0]
    return [line.strip() for line in chain.splitlines()[2:] if line.strip()]


@pytest.mark.parametrize("case", ["v2", "v1"])
def test_nftables_guards_both_services_on_either_hierarchy(egress, case) -> None:
    """Before: on the unified hierarchy `auto` loaded no table and nginx had no filter."""
    files = egress[case]
    for unit in ("litellm.service", "nginx.service"):
        lines = files[unit].splitlines()
        assert "Requires=ccprov-litellm-egress.service" in lines, unit
        assert "After=ccprov-litellm-egress.service" in lines, unit
    # systemd's filter stays on LiteLLM as a second layer (enforced on the unified hierarchy).
    assert "IPAddressDeny=any" in files["litellm.service"].splitlines()
    rules = output_rules(files["egress.nft"])
    assert rules[-1] == "counter reject with icmpx type admin-prohibited"
    assert 'meta skuid "litellm" ip daddr 10.0.0.11/32 tcp dport 8001 accept' in rules


def test_only_the_gateway_services_open_vllm_ports(egress) -> None:
    """Other local users are refused on the backends' vLLM ports, loopback included, before
    the rule that lets them go anywhere else; nginx only where it proxies vLLM metrics."""
    rules = output_rules(egress["v2"]["egress.nft"])
    others = rules.index('meta skuid != { "litellm", "ccprov-nginx" } accept')
    guards = [rule for rule in rules if "dport 800" in rule and "reject" in rule]
    assert guards == [
        'meta skuid != { "root", "litellm" } ip daddr 127.0.0.1/32 tcp dport 8000 '
        "counter reject with tcp reset",
        'meta skuid != { "root", "litellm" } ip daddr 10.0.0.11/32 tcp dport 8001 '
        "counter reject with tcp reset",
    ]
    assert all(rules.index(rule) < others for rule in guards)
    named = output_rules(egress["names"]["egress.nft"])
    assert named[0] == (
        'meta skuid != { "root", "litellm", "ccprov-nginx" } ip daddr 10.0.0.12/32 '
        "tcp dport 8000 counter reject with tcp reset"
    )


def test_dns_is_open_only_when_a_backend_is_a_name(egress) -> None:
    assert "dport 53" not in egress["v2"]["egress.nft"]
    assert 'meta skuid "litellm" ip daddr 10.0.0.53/32 udp dport 53 accept' in output_rules(
        egress["names"]["egress.nft"]
    )
