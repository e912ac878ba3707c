"""The gateway behind TLS (issue #17): `ccprov status`, `ccprov smoke --conformance`, the
live check after `ccprov workstation` verify its certificate with LOCAL_CA_CERT (a CA made
by `ccprov ca init`) or the system's trust store, never without, and say in one line why
a certificate is refused."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ccprov.cli import cli
from ccprov.workstation import envfile, smoke
from ccprov.workstation import onboard as workstation
from tests.cli.tls_gateway import make_ca, sign_leaf, tls_proxy
from tests.support.paths import CLAUDE

CCPROV = str(Path(sys.executable).parent / "ccprov")
TRUST_HINT = "set LOCAL_CA_CERT / pass --ca-file with the CA that signed it"


@dataclass
class Gateway:
    url: str
    key: str
    ca_file: Path


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory) -> Path:
    return make_ca(tmp_path_factory.mktemp("inv") / "inventories" / "test")


@pytest.fixture(scope="module")
def gateway(standin_vllm, ca_dir, tmp_path_factory) -> Iterator[Gateway]:
    cert, key = sign_leaf(ca_dir, tmp_path_factory.mktemp("leaf"), ["127.0.0.1", "localhost"])
    with tls_proxy(standin_vllm.url, cert, key) as url:
        yield Gateway(url, standin_vllm.api_key, ca_dir / "ca.crt")


@pytest.fixture(scope="module")
def wrong_name_gateway(standin_vllm, ca_dir, tmp_path_factory) -> Iterator[Gateway]:
    cert, key = sign_leaf(ca_dir, tmp_path_factory.mktemp("leaf"), ["gateway.example.org"])
    with tls_proxy(standin_vllm.url, cert, key) as url:
        yield Gateway(url, standin_vllm.api_key, ca_dir / "ca.crt")


def env_file(home: Path, gw: Gateway, ca: bool) -> Path:
    home.mkdir(exist_ok=True)
    path = home / ".claude-backends.env"
    text = f'LOCAL_BASE_URL="{gw.url}"\nLOCAL_TOKEN="{gw.key}"\nLOCAL_MODEL="devstral"\n'
    if ca:
        text += f'LOCAL_CA_CERT="{gw.ca_file}"\n'
    path.write_text(text)
    path.chmod(0o600)
    return path


def ccprov(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CCPROV_", "CLAUDE_", "SSL_CERT", "NODE_EXTRA"))
    }
    return subprocess.run(
        [CCPROV, *args],
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_ca_signs_a_certificate_strict_rfc5280_clients_accept(gateway) -> None:
    """Python 3.13's default (and Mistral Vibe's certifi path) checks chains strictly."""
    context = ssl.create_default_context(cafile=str(gateway.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    import socket

    port = int(gateway.url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), 10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version()


def test_status_verifies_with_local_ca_cert(tmp_path, gateway) -> None:
    home = tmp_path / "home"
    env_file(home, gateway, ca=True)
    proc = ccprov(home, "status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "serves devstral" in proc.stdout
    assert f"CA {gateway.ca_file}" in proc.stdout


def test_status_without_the_ca_says_the_certificate_is_not_trusted(tmp_path, gateway) -> None:
    home = tmp_path / "home"
    env_file(home, gateway, ca=False)
    proc = ccprov(home, "status")
    assert proc.returncode == 1
    lines = [line.strip() for line in proc.stdout.splitlines()]
    trust = [line for line in lines if "not trusted" in line]
    assert len(trust) == 1, proc.stdout
    assert trust[0].startswith(
        f"the gateway's certificate at {gateway.url} is not trusted (certificate verify failed:"
    )
    assert trust[0].endswith(TRUST_HINT)
    assert "down:" not in proc.stdout
    assert gateway.key not in proc.stdout + proc.stderr


def test_status_names_a_hostname_mismatch(tmp_path, wrong_name_gateway) -> None:
    home = tmp_path / "home"
    env_file(home, wrong_name_gateway, ca=True)
    proc = ccprov(home, "status")
    assert proc.returncode == 1
    assert (
        f"the gateway's certificate at {wrong_name_gateway.url} is not valid for the host name"
        " '127.0.0.1'"
    ) in proc.stdout


def test_status_with_a_missing_ca_file_says_so(tmp_path, gateway) -> None:
    home = tmp_path / "home"
    path = env_file(home, gateway, ca=False)
    path.write_text(path.read_text() + f'LOCAL_CA_CERT="{tmp_path}/nope.pem"\n')
    proc = ccprov(home, "status")
    assert proc.returncode == 1
    assert f"the CA file {tmp_path}/nope.pem (LOCAL_CA_CERT) cannot be used" in proc.stdout


def test_conformance_over_tls_with_the_ca(tmp_path, gateway) -> None:
    path = env_file(tmp_path / "home", gateway, ca=True)
    result = CliRunner().invoke(
        cli, ["smoke", "--conformance", "--env-file", str(path), "--only", "key-as-bearer"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1:] == ["ok   key-as-bearer"]


@pytest.mark.parametrize("which", ["untrusted", "wrong-name"])
def test_smoke_stops_at_a_refused_certificate_in_one_line(
    tmp_path, gateway, wrong_name_gateway, which
) -> None:
    gw = gateway if which == "untrusted" else wrong_name_gateway
    path = env_file(tmp_path / "home", gw, ca=which != "untrusted")
    for mode in (["--conformance"], []):
        proc = ccprov(tmp_path, "smoke", *mode, "--env-file", str(path), "--claude", "/bin/false")
        assert proc.returncode == 1
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        if which == "untrusted":
            assert proc.stderr.strip().endswith(TRUST_HINT)
        else:
            assert "is not valid for the host name '127.0.0.1'" in proc.stderr


def test_the_real_claude_trusts_a_gateway_certificate_from_the_ca(tmp_path, gateway) -> None:
    """The claude CLI's own TLS (Bun's BoringSSL, not Node's OpenSSL) through the front with
    the CA as NODE_EXTRA_CA_CERTS, to 127.0.0.1 (the certificate lists an address). Bun
    refuses any certificate that lists an address under a CA with address name constraints
    (UNSUPPORTED_CONSTRAINT_TYPE: first seen in the site end-to-end test), so ccprov's CA
    constrains DNS names only."""
    home = tmp_path / "home"
    local = envfile.backends(envfile.parse(env_file(home, gateway, ca=True).read_text()))[0]
    proc = subprocess.run(
        [str(CLAUDE), "-p", "Say OK"],
        cwd=tmp_path,
        env=smoke.claude_env(local, home),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout


def test_claude_gets_the_ca_as_node_extra_ca_certs(tmp_path) -> None:
    values = envfile.parse('LOCAL_BASE_URL="https://gw"\nLOCAL_CA_CERT="/etc/ccprov/ca.pem"\n')
    local = envfile.backends(values)[0]
    assert local.ca_file == "/etc/ccprov/ca.pem"
    assert smoke.claude_env(local, tmp_path)["NODE_EXTRA_CA_CERTS"] == "/etc/ccprov/ca.pem"
    vllm = envfile.backends({**values, "VLLM_CA_CERT": "/x"})[1]
    assert vllm.ca_file == "" and "NODE_EXTRA_CA_CERTS" not in smoke.claude_env(vllm, tmp_path)


# --- ccprov workstation --ca-file ---------------------------------------------------------


def invoke_workstation(monkeypatch, tmp_path, *args: str):
    monkeypatch.setattr(workstation, "is_tty", lambda: False)
    calls: list[dict] = []

    def fake_run_playbook(*a, **kw):
        calls.append(a[2])
        from ccprov.runner import RunSummary

        return RunSummary(returncode=0, ok=3, changed=2, seconds=0.1)

    monkeypatch.setattr("ccprov.runner.run_playbook", fake_run_playbook)
    key = tmp_path / "gateway.key"
    key.write_text(args[1] + "\n")
    key.chmod(0o600)
    result = CliRunner().invoke(
        cli,
        ["workstation", "--base-url", args[0], "--token-file", str(key), "--yes", *args[2:]],
        env={"HOME": str(tmp_path)},
    )
    return result, calls


def test_workstation_ca_file_reaches_the_role_and_the_live_check(
    monkeypatch, tmp_path, gateway
) -> None:
    result, calls = invoke_workstation(
        monkeypatch, tmp_path, gateway.url, gateway.key, "--ca-file", str(gateway.ca_file)
    )
    assert result.exit_code == 0, result.output
    assert calls[0]["workstation_gateway_ca_file"] == str(gateway.ca_file)
    assert "the model answered in" in result.output


def test_workstation_live_check_without_the_ca_says_why(monkeypatch, tmp_path, gateway) -> None:
    result, _ = invoke_workstation(monkeypatch, tmp_path, gateway.url, gateway.key)
    assert result.exit_code == 3
    assert f"live check failed: the gateway's certificate at {gateway.url} is not trusted" in (
        result.output
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read --ca-file"),
        (b"not a certificate\n", "holds no PEM certificate"),
        (
            b"-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n",
            "is not a valid PEM certificate bundle",
        ),
    ],
)
def test_workstation_refuses_a_bad_ca_file(monkeypatch, tmp_path, content, message) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    result, calls = invoke_workstation(
        monkeypatch, tmp_path, "https://gw.example", "sk-dev-0123456789", "--ca-file", str(path)
    )
    assert result.exit_code == 2
    assert calls == []
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and message in error[0] and str(path) in error[0]
