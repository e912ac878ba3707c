"""workstation_gateway_ca_file: the gateway's CA installed in the home through home_files
and named in ~/.claude-backends.env as LOCAL_CA_CERT; a bad file is refused, named."""

from __future__ import annotations

import stat

import pytest

from tests.cli.tls_gateway import make_ca
from tests.role.test_workstation_role_local import home, play

__all__ = ["home"]


def test_the_ca_is_installed_and_named_in_the_env_file(tmp_path, home) -> None:
    ca = make_ca(tmp_path / "inv") / "ca.crt"
    proc = play(tmp_path, home, workstation_gateway_ca_file=str(ca))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = home / ".config/ccprov/gateway-ca.pem"
    assert installed.read_bytes() == ca.read_bytes()
    assert stat.S_IMODE(installed.stat().st_mode) == 0o644
    env = (home / ".claude-backends.env").read_text()
    assert f'LOCAL_CA_CERT="{installed}"' in env
    again = play(tmp_path, home, workstation_gateway_ca_file=str(ca))
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout


def test_without_it_there_is_no_ca_line(tmp_path, home) -> None:
    proc = play(tmp_path, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LOCAL_CA_CERT" not in (home / ".claude-backends.env").read_text()
    assert not (home / ".config/ccprov/gateway-ca.pem").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist on the controller"), ("garbage\n", "holds no PEM certificate")],
)
def test_a_missing_or_garbage_ca_file_is_refused(tmp_path, home, content, message) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    proc = play(tmp_path, home, workstation_gateway_ca_file=str(path))
    assert proc.returncode != 0
    assert f"workstation_gateway_ca_file {path} {message}" in proc.stdout
    assert list(home.iterdir()) == []
