"""The nftables allowlists, one piece for both directions (issue #32): the nft_allowlist
filters build the gateway's egress rules and vLLM's client rules from inventory data
(issue #17 items 3 and 4), and the nft_allowlist role's one template renders both tables
from what each role passes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from tests.conftest import REPO, load_file
from tests.support import role_templates

network = load_file("gw_network", REPO / "plugins/filter/network.py")
nft = load_file("nft_allowlist", REPO / "plugins/filter/nft_allowlist.py")


def role_vars(role: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / f"roles/{role}/vars/main.yml").read_text())


# What each role says of a name that does not resolve (its vars/main.yml).
GATEWAY_UNRESOLVED = role_vars("litellm_gateway")["__litellm_gateway_unresolved"]
VLLM_UNRESOLVED = role_vars("vllm_server")["__vllm_server_unresolved"]


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
    assert nft.nft_names(endpoints) == ["api.mistral.ai", "gpu2.lan"]


def test_extra_model_without_api_base_is_refused_with_the_fix() -> None:
    with pytest.raises(
        AnsibleFilterError, match=r"has no litellm_params\.api_base.*egress_filter: none"
    ):
        network.litellm_egress_endpoints(
            [], [{"model_name": "m", "litellm_params": {"model": "x"}}]
        )


def test_egress_rules_resolve_names_add_dns_and_skip_loopback() -> None:
    endpoints = [{"host": "127.0.0.1", "port": 8000}, {"host": "gpu2.lan", "port": 8000}]
    extra = nft.nft_allow_entries(["10.9.0.0/16", "[fd00::7]:4317"], "egress_allow")
    rules = nft.nft_rules(
        endpoints + extra,
        {"gpu2.lan": ["10.0.0.12", "fd00::12"]},
        GATEWAY_UNRESOLVED,
        ["10.0.0.53", "127.0.0.53"],
    )
    assert rules == [
        {"net": "10.0.0.12/32", "family": "ip", "port": 8000, "proto": "tcp"},
        {"net": "fd00::12/128", "family": "ip6", "port": 8000, "proto": "tcp"},
        {"net": "10.9.0.0/16", "family": "ip", "port": None, "proto": "tcp"},
        {"net": "fd00::7/128", "family": "ip6", "port": 4317, "proto": "tcp"},
        {"net": "10.0.0.53/32", "family": "ip", "port": 53, "proto": "udp"},
        {"net": "10.0.0.53/32", "family": "ip", "port": 53, "proto": "tcp"},
    ]
    assert nft.nft_networks(rules) == [
        "10.0.0.12/32",
        "10.0.0.53/32",
        "10.9.0.0/16",
        "fd00::12/128",
        "fd00::7/128",
    ]


def test_unresolvable_name_and_bad_allow_entry_fail_clearly() -> None:
    with pytest.raises(
        AnsibleFilterError,
        match=r"^the backend host gpu9\.lan does not resolve on the gateway: fix its DNS",
    ):
        nft.nft_rules([{"host": "gpu9.lan", "port": 8000}], {}, GATEWAY_UNRESOLVED)
    with pytest.raises(
        AnsibleFilterError,
        match=r"^vllm_server_allowed_clients: 'gw9\.lan' is not an address or CIDR and does "
        "not resolve on the GPU host",
    ):
        nft.nft_rules(["gw9.lan"], {}, VLLM_UNRESOLVED)
    with pytest.raises(AnsibleFilterError, match=r"egress_allow: 'gpu\.lan:80' is not an address"):
        nft.nft_allow_entries(["gpu.lan:80"], "egress_allow")
    with pytest.raises(AnsibleFilterError, match="has a bad port"):
        nft.nft_allow_entries(["10.0.0.1:0"], "egress_allow")


def test_getent_and_resolv_conf_parsing() -> None:
    out = "10.0.0.12       STREAM gpu2.lan\n10.0.0.12       DGRAM\nfd00::12 STREAM\n"
    assert nft.getent_addresses(out) == ["10.0.0.12", "fd00::12"]
    conf = "# x\nnameserver 10.0.0.53\nnameserver bogus\nsearch lan\n"
    assert nft.resolv_conf_nameservers(conf) == ["10.0.0.53"]


def test_clients_from_addresses_cidrs_and_names_without_dns() -> None:
    """vLLM's ingress: host entries, no ports, no resolvers (nothing to look up later)."""
    entries = ["10.0.0.2", "10.1.0.0/24", "gw2.lan", "127.0.0.1", "[fd00::3]"]
    assert nft.nft_names(entries) == ["gw2.lan"]
    found = nft.nft_rules(entries, {"gw2.lan": ["10.0.0.3"]})
    assert [(rule["net"], rule["family"]) for rule in found] == [
        ("10.0.0.2/32", "ip"),
        ("10.1.0.0/24", "ip"),
        ("10.0.0.3/32", "ip"),
        ("fd00::3/128", "ip6"),
    ]


def test_guarded_ports_keep_loopback_and_skip_unresolved_names() -> None:
    """vLLM's own address:port pairs on the gateway, loopback included (a vLLM on the
    gateway host is as open to its other users as one elsewhere)."""
    endpoints = [
        {"host": "127.0.0.1", "port": 8000},
        {"host": "gpu2.lan", "port": 8001},
        {"host": "gpu9.lan", "port": 8001},
        {"host": "127.0.0.1", "port": 8000},
    ]
    found = nft.nft_rules(endpoints, {"gpu2.lan": ["10.0.0.12", "fd00::12"]}, loopback=True)
    assert [(rule["net"], rule["port"]) for rule in found] == [
        ("127.0.0.1/32", 8000),
        ("10.0.0.12/32", 8001),
        ("fd00::12/128", 8001),
    ]


# --- The rendered tables: the gateway's egress on either cgroup hierarchy (issue #28) ------
UNITS = {
    "litellm.service": "etc/systemd/system/litellm.service.j2",
    "nginx.service": "etc/systemd/system/nginx.service.j2",
}
GATEWAY: dict[str, Any] = {
    "inventory_hostname": "gw1",
    "litellm_gateway_egress_filter": "auto",
    "__litellm_gateway_resolvers": ["10.0.0.53"],
    "__litellm_gateway_egress_resolved": {"gpu2.lan": ["10.0.0.12"]},
}
# name -> variables: backends by address or by name.
CASES: dict[str, dict[str, Any]] = {
    "addresses": {
        "litellm_gateway_backends": [
            {"api_base": "http://127.0.0.1:8000/v1"},
            {"api_base": "http://10.0.0.11:8001/v1"},
        ],
    },
    "names": {
        "litellm_gateway_backends": [{"api_base": "http://gpu2.lan:8000/v1"}],
        "litellm_gateway_metrics_clients": ["10.9.0.0/16"],
    },
}
# vLLM's port allowlist, a client given by name.
VLLM: dict[str, Any] = {
    "inventory_hostname": "gpu1",
    "vllm_server_port": 8001,
    "vllm_server_allowed_clients": ["10.0.0.2", "gw2.lan", "fd00::/64"],
    "__vllm_server_client_lookup": {"gw2.lan": ["10.0.0.3"]},
}


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Each case's files, all in one ansible-playbook run."""
    tmp = tmp_path_factory.mktemp("allowlists")
    jobs = [
        role_templates.Job("litellm_gateway", template, tmp / case / name, variables)
        for case, variables in CASES.items()
        for name, template in UNITS.items()
    ]
    for case, variables in CASES.items():
        jobs += role_templates.allowlist_jobs("litellm_gateway", tmp / case, variables)
    jobs += role_templates.allowlist_jobs("vllm_server", tmp / "vllm", VLLM)
    proc = role_templates.render(tmp / "render", jobs, GATEWAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {
        case: {path.name: path.read_text() for path in Path(tmp / case).iterdir()}
        for case in [*CASES, "vllm"]
    }


def chain_rules(nft_text: str, chain: str) -> list[str]:
    body = nft_text.split(f"chain {chain} {{", 1)[1].split("}\n", 1)[0]
    return [line.strip() for line in body.splitlines()[2:] if line.strip()]


def test_nftables_guards_both_gateway_services(tables) -> None:
    """Loaded on every host (before: on the unified hierarchy `auto` loaded no table and
    nginx had no filter), by a unit both services require."""
    files = tables["addresses"]
    for unit in ("litellm.service", "nginx.service"):
        lines = files[unit].splitlines()
        assert "Requires=ccprov-litellm-egress.service" in lines, unit
        assert "After=ccprov-litellm-egress.service" in lines, unit
    loader = files["allowlist.service"].splitlines()
    assert "Before=litellm.service nginx.service" in loader
    assert "ExecStart=/usr/sbin/nft -f /etc/ccprov/litellm-egress.nft" in loader
    assert "ExecStop=/usr/sbin/nft delete table inet ccprov_litellm_egress" in loader
    # systemd's filter stays on LiteLLM as a second layer (enforced on the unified hierarchy).
    assert "IPAddressDeny=any" in files["litellm.service"].splitlines()
    assert "IPAddressAllow=localhost 10.0.0.11/32" in files["litellm.service"].splitlines()
    rules = chain_rules(files["allowlist.nft"], "output")
    assert rules[-1] == "counter reject with icmpx type admin-prohibited"
    assert 'meta skuid "litellm" ip daddr 10.0.0.11/32 tcp dport 8001 accept' in rules
    assert "chain input" not in files["allowlist.nft"]


def test_only_the_gateway_services_open_vllm_ports(tables) -> None:
    """Other local users are refused on the backends' vLLM ports, loopback included, before
    the rule that lets them go anywhere else; nginx only where it proxies vLLM metrics."""
    rules = chain_rules(tables["addresses"]["allowlist.nft"], "output")
    others = rules.index('meta skuid != { "litellm", "ccprov-nginx" } accept')
    guards = [rule for rule in rules if "dport 800" in rule and "reject" in rule]
    assert guards == [
        'meta skuid != { "root", "litellm" } ip daddr 127.0.0.1/32 tcp dport 8000 '
        "counter reject with tcp reset",
        'meta skuid != { "root", "litellm" } ip daddr 10.0.0.11/32 tcp dport 8001 '
        "counter reject with tcp reset",
    ]
    assert all(rules.index(rule) < others for rule in guards)
    named = chain_rules(tables["names"]["allowlist.nft"], "output")
    assert named[0] == (
        'meta skuid != { "root", "litellm", "ccprov-nginx" } ip daddr 10.0.0.12/32 '
        "tcp dport 8000 counter reject with tcp reset"
    )


def test_dns_is_open_only_when_a_backend_is_a_name(tables) -> None:
    assert "dport 53" not in tables["addresses"]["allowlist.nft"]
    assert 'meta skuid "litellm" ip daddr 10.0.0.53/32 udp dport 53 accept' in chain_rules(
        tables["names"]["allowlist.nft"], "output"
    )


def test_vllm_port_admits_loopback_and_the_gateways_only(tables) -> None:
    """The ingress direction of the same template: vLLM's port, by source address."""
    files = tables["vllm"]
    assert "chain output" not in files["allowlist.nft"]
    assert chain_rules(files["allowlist.nft"], "input") == [
        "tcp dport != 8001 accept",
        'iifname "lo" accept',
        "ip saddr 10.0.0.2/32 accept",
        "ip saddr 10.0.0.3/32 accept",
        "ip6 saddr fd00::/64 accept",
        "counter reject with tcp reset",
    ]
    loader = files["allowlist.service"].splitlines()
    assert "Before=vllm.service" in loader
    assert "ExecStart=/usr/sbin/nft -f /etc/ccprov/vllm-ingress.nft" in loader
    assert "ExecStop=/usr/sbin/nft delete table inet ccprov_vllm_ingress" in loader
