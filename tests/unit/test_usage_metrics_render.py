"""Issue #21 in the gateway role's files: the usage callback and Prometheus in the LiteLLM
config, the unit's writable usage directory and metrics directory, the front's /metrics
allowlist and /metrics/vllm/<host:port> proxies, and nginx's egress to the backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from tests.conftest import REPO, load_file
from tests.support import role_templates

metrics = load_file("network_filters", REPO / "plugins/filter/network.py")

TEMPLATES = {
    "config.yaml": "etc/litellm/config.yaml.j2",
    "litellm.service": "etc/systemd/system/litellm.service.j2",
    "nginx.conf": "etc/nginx/nginx.conf.j2",
    "tmpfiles.conf": "etc/tmpfiles.d/ccprov-usage.conf.j2",
}
BACKENDS = [
    {"api_base": "http://gpu1.example:8000/v1"},
    {"api_base": "https://gpu2.example/v1"},
    {"api_base": "http://10.0.0.7:8000/v1"},
]
COMMON: dict[str, Any] = {
    "inventory_hostname": "gw1",
    "litellm_gateway_backends": BACKENDS,
    "litellm_gateway_backend_ca_file": "/controller/vllm-ca.pem",
    "__litellm_gateway_egress_resolved": {
        "gpu1.example": ["10.0.0.5"],
        "gpu2.example": ["10.0.0.6"],
    },
    "__litellm_gateway_resolvers": ["10.0.0.53"],
    "litellm_gateway_egress_filter": "nftables",
}


def render(tmp: Path, **variables: Any) -> dict[str, str]:
    jobs = [
        role_templates.Job("litellm_gateway", template, tmp / name)
        for name, template in TEMPLATES.items()
    ] + role_templates.allowlist_jobs("litellm_gateway", tmp, {})
    proc = role_templates.render(tmp / "render", jobs, {**COMMON, **variables})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = {name: (tmp / name).read_text() for name in TEMPLATES}
    return {**files, "egress.nft": (tmp / "allowlist.nft").read_text()}


@pytest.fixture(scope="module")
def with_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return render(
        tmp_path_factory.mktemp("on"),
        litellm_gateway_metrics_clients=["10.9.0.0/16", "192.0.2.7/32"],
    )


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return render(tmp_path_factory.mktemp("off"))


def test_config_loads_the_usage_callback_and_prometheus(with_metrics, defaults) -> None:
    settings = yaml.safe_load(with_metrics["config.yaml"])["litellm_settings"]
    # The request rewrites first: text-only blocks (litellm_gateway_text_only), then the
    # output ceiling (litellm_gateway_max_tokens), then the Anthropic fields (always); the
    # failover repair and the session spread after it with more than one backend (this
    # render has two).
    rewrites = [
        "ccprov_text_only.text_only_blocks",
        "ccprov_failover.failover",
        "ccprov_spread.spread",
        "ccprov_output_cap.output_cap",
        "ccprov_anthropic_fields.anthropic_fields",
    ]
    assert settings["callbacks"] == [*rewrites, "ccprov_usage.usage_logger", "prometheus"]
    assert settings["require_auth_for_metrics_endpoint"] is False
    assert yaml.safe_load(defaults["config.yaml"])["litellm_settings"]["callbacks"] == [
        *rewrites,
        "ccprov_usage.usage_logger",
    ]


def test_unit_may_write_the_usage_dir_and_keeps_metrics_per_start(with_metrics, defaults) -> None:
    unit = with_metrics["litellm.service"].splitlines()
    for setting in (
        "Environment=CCPROV_USAGE_DIR=/var/log/ccprov-usage",
        "ReadWritePaths=-/var/log/ccprov-usage",
        "Environment=PROMETHEUS_MULTIPROC_DIR=/run/litellm-metrics",
        "RuntimeDirectory=litellm-metrics",
        "ProtectSystem=strict",
        "PrivateUsers=true",
    ):
        assert setting in unit
    assert "PROMETHEUS_MULTIPROC_DIR" not in defaults["litellm.service"]
    assert "ReadWritePaths=-/var/log/ccprov-usage" in defaults["litellm.service"]


def location(conf: str, path: str) -> str:
    start = conf.index(f"location = {path} {{")
    return conf[start : conf.index("\n    }\n", start)]


def test_front_serves_metrics_to_the_monitoring_network_only(with_metrics) -> None:
    conf = with_metrics["nginx.conf"]
    block = location(conf, "/metrics")
    assert block.splitlines()[1:4] == [
        "      allow 10.9.0.0/16;",
        "      allow 192.0.2.7;",
        "      deny all;",
    ]
    assert "proxy_pass http://litellm/metrics/;" in block
    gpu1 = location(conf, "/metrics/vllm/gpu1.example:8000")
    assert "proxy_pass http://10.0.0.5:8000/metrics;" in gpu1
    assert "proxy_set_header Host gpu1.example:8000;" in gpu1
    assert "deny all;" in gpu1 and "allow 10.9.0.0/16;" in gpu1
    gpu2 = location(conf, "/metrics/vllm/gpu2.example:443")
    assert "proxy_pass https://10.0.0.6:443/metrics;" in gpu2
    assert "proxy_ssl_verify on;" in gpu2 and "proxy_ssl_name gpu2.example;" in gpu2
    assert "proxy_ssl_trusted_certificate /etc/nginx/ccprov-backend-ca.pem;" in gpu2
    assert "proxy_pass http://10.0.0.7:8000/metrics;" in location(
        conf, "/metrics/vllm/10.0.0.7:8000"
    )
    # The client API's allowlist and the catch-all 404 are untouched.
    assert conf.rstrip().endswith("location / {\n      return 404;\n    }\n  }\n}")


def test_without_clients_there_is_no_metrics_path(defaults) -> None:
    assert "/metrics" not in defaults["nginx.conf"].split("server {", 1)[1]


def test_nginx_may_reach_the_backends_only_with_metrics_on(with_metrics, defaults) -> None:
    nginx_rules = [
        line.strip()
        for line in with_metrics["egress.nft"].splitlines()
        if line.strip().startswith('meta skuid "ccprov-nginx"')
    ]
    assert nginx_rules == [
        'meta skuid "ccprov-nginx" ip daddr 10.0.0.5/32 tcp dport 8000 accept',
        'meta skuid "ccprov-nginx" ip daddr 10.0.0.6/32 tcp dport 443 accept',
        'meta skuid "ccprov-nginx" ip daddr 10.0.0.7/32 tcp dport 8000 accept',
    ]
    assert 'meta skuid "ccprov-nginx" ip' not in defaults["egress.nft"]


def test_vllm_metrics_names_and_bad_entries() -> None:
    found = metrics.litellm_vllm_metrics(
        [{"api_base": "http://[fd00::7]:8000/v1"}, {"api_base": "http://gpu:8000/v2"}],
        {"gpu": ["10.1.1.1"]},
    )
    assert [(b["name"], b["url"]) for b in found] == [
        ("[fd00::7]:8000", "http://[fd00::7]:8000/metrics"),
        ("gpu:8000", "http://10.1.1.1:8000/metrics"),
    ]
    # Unresolved (egress filter off): the name itself.
    assert metrics.litellm_vllm_metrics([{"api_base": "http://gpu:8000/v1"}])[0]["url"] == (
        "http://gpu:8000/metrics"
    )
    assert metrics.litellm_metrics_clients(["10.0.0.1", "10.0.0.0/8", "10.0.0.1/32"]) == [
        "10.0.0.1",
        "10.0.0.0/8",
    ]
    with pytest.raises(AnsibleFilterError, match="not an address or CIDR"):
        metrics.litellm_metrics_clients(["monitoring.example"])
    with pytest.raises(AnsibleFilterError, match="not an http"):
        metrics.litellm_vllm_metrics([{"api_base": "gpu:8000"}])


def test_usage_files_are_kept_by_modification_time(defaults) -> None:
    rules = [line for line in defaults["tmpfiles.conf"].splitlines() if line[:1] not in ("#", "")]
    assert rules == ["d /var/log/ccprov-usage 2750 litellm ccprov-usage m:90d"]
