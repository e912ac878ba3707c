"""`ccprov audit` over SSH, with Fabric replaced by a stand-in that checks host keys the way
paramiko's SSHClient.connect does: host-key policy, the denylist variable, become."""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import fabric
import paramiko
import pytest
from click.testing import CliRunner

from ccprov.cli import cli
from ccprov.fleet import audit, inventory
from ccprov.fleet import ssh as fleet
from tests.support.pins import LITELLM

SERVER_KEY = paramiko.ECDSAKey.generate()

CLEAN = {
    "roots": ["/opt"],
    "euid": 0,
    "site_dirs": 3,
    "environments": 1,
    "litellm": [{"path": f"/opt/v/litellm-{LITELLM}.dist-info", "version": LITELLM}],
    "findings": [],
    "unreadable_count": 0,
    "unreadable": [],
}


class FakeConnection:
    """fabric.Connection without a network: `run` first does connect()'s host-key check."""

    made: ClassVar[list[FakeConnection]] = []
    answer: ClassVar[Any] = None  # (command) -> (stdout, stderr, exit code)

    def __init__(self, host: str, user=None, port=None, connect_kwargs=None) -> None:
        self.host, self.user, self.port = host, user, port
        self.client = paramiko.SSHClient()
        self.commands: list[str] = []
        FakeConnection.made.append(self)

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, command: str, **kwargs: object) -> SimpleNamespace:
        name = self.host if self.port in (None, 22) else f"[{self.host}]:{self.port}"
        known = self.client._system_host_keys.lookup(name) or self.client.get_host_keys().lookup(
            name
        )
        if known is None:
            self.client._policy.missing_host_key(self.client, name, SERVER_KEY)
        elif known.get(SERVER_KEY.get_name()) != SERVER_KEY:
            raise paramiko.BadHostKeyException(name, SERVER_KEY, known[SERVER_KEY.get_name()])
        self.commands.append(command)
        out, err, code = FakeConnection.answer(command)
        return SimpleNamespace(stdout=out, stderr=err, exited=code)


@pytest.fixture
def ssh(monkeypatch, tmp_path: Path):
    """Fabric replaced, HOME in tmp_path (its ~/.ssh/known_hosts), one-host inventory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(fleet, "SYSTEM_KNOWN_HOSTS", tmp_path / "no-system-known-hosts")
    monkeypatch.setattr(fabric, "Connection", FakeConnection)
    FakeConnection.made = []
    FakeConnection.answer = lambda command: (json.dumps(CLEAN), "", 0)
    hosts = [
        inventory.Host(
            name="gw1",
            address="gw1.example",
            user="root",
            groups=("gateways",),
            variables={"ansible_user": "root"},
        )
    ]
    monkeypatch.setattr(inventory, "load", lambda path, limit=None: hosts)
    (tmp_path / "inv").mkdir()
    return SimpleNamespace(home=tmp_path, hosts=hosts, inventory=str(tmp_path / "inv"))


def ccprov_audit(*args: str):
    return CliRunner().invoke(cli, ["audit", *args])


def known_hosts_line(home: Path) -> None:
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(exist_ok=True)
    (ssh_dir / "known_hosts").write_text(
        f"gw1.example {SERVER_KEY.get_name()} {SERVER_KEY.get_base64()}\n"
    )


def test_an_unknown_host_key_is_refused_and_named(ssh) -> None:
    result = ccprov_audit("-i", ssh.inventory)
    assert result.exit_code == 1, result.output
    (conn,) = FakeConnection.made
    assert isinstance(conn.client._policy, paramiko.RejectPolicy)
    assert conn.commands == []  # nothing ran on a host that was not verified
    assert "UNREACHABLE" in result.output
    assert "host key of gw1.example (ecdsa-sha2-nistp256 SHA256:" in result.output
    assert "--accept-new-host-keys" in result.output
    assert not (ssh.home / ".ssh/known_hosts").exists()


def test_a_known_host_key_is_accepted(ssh) -> None:
    known_hosts_line(ssh.home)
    result = ccprov_audit("-i", ssh.inventory)
    assert result.exit_code == 0, result.output
    assert "clean" in result.output and LITELLM in result.output


def test_accept_new_host_keys_adds_and_saves_the_key(ssh) -> None:
    result = ccprov_audit("-i", ssh.inventory, "--accept-new-host-keys")
    assert result.exit_code == 0, result.output
    (conn,) = FakeConnection.made
    assert isinstance(conn.client._policy, paramiko.AutoAddPolicy)
    saved = (ssh.home / ".ssh/known_hosts").read_text()
    assert saved == f"gw1.example {SERVER_KEY.get_name()} {SERVER_KEY.get_base64()}\n"
    assert (ssh.home / ".ssh/known_hosts").stat().st_mode & 0o777 == 0o600
    assert "added host key ecdsa-sha2-nistp256 SHA256:" in result.output
    # The next run, without the flag, knows the host.
    again = ccprov_audit("-i", ssh.inventory)
    assert again.exit_code == 0, again.output
    assert isinstance(FakeConnection.made[-1].client._policy, paramiko.RejectPolicy)


def test_a_changed_host_key_is_refused_even_with_accept_new(ssh) -> None:
    other = paramiko.ECDSAKey.generate()
    (ssh.home / ".ssh").mkdir()
    (ssh.home / ".ssh/known_hosts").write_text(
        f"gw1.example {other.get_name()} {other.get_base64()}\n"
    )
    result = ccprov_audit("-i", ssh.inventory, "--accept-new-host-keys")
    assert result.exit_code == 1
    assert "differs from the one in known_hosts" in result.output
    assert FakeConnection.made[0].commands == []


def policy_sent(conn: FakeConnection) -> dict:
    return json.loads(shlex.split(conn.commands[0])[-1])


def test_the_role_denylist_variable_reaches_the_probe(ssh) -> None:
    known_hosts_line(ssh.home)
    ssh.hosts[0].variables["litellm_gateway_denylist"] = ["1.82.7", "1.82.8", "1.90.0"]
    assert ccprov_audit("-i", ssh.inventory).exit_code == 0
    assert policy_sent(FakeConnection.made[0])["denylist"] == ["1.82.7", "1.82.8", "1.90.0"]


def test_the_old_variable_name_is_only_a_fallback() -> None:
    def host(**variables: object) -> inventory.Host:
        return inventory.Host(name="h", address="h", variables=dict(variables))

    assert "1.90.0" in audit.policy_for(host(litellm_denylist=["1.90.0"]), [])["denylist"]
    both = host(litellm_gateway_denylist=["1.91.0"], litellm_denylist=["1.90.0"])
    assert audit.policy_for(both, [])["denylist"] == ["1.82.7", "1.82.8", "1.91.0"]
    templated = host(litellm_gateway_denylist=["{{ x }}"])
    assert audit.policy_for(templated, [])["denylist"] == ["1.82.7", "1.82.8"]


def probe_source(command: str) -> str:
    return base64.b64decode(shlex.split(command.removeprefix("sudo -n "))[3]).decode()


def test_sudo_refused_scans_unprivileged_and_says_so(ssh) -> None:
    known_hosts_line(ssh.home)
    ssh.hosts[0] = inventory.Host(
        name="ws1", address="gw1.example", user="dev", groups=("workstations",), variables={}
    )
    partial = {
        **CLEAN,
        "euid": 1000,
        "unreadable_count": 1,
        "unreadable": [{"path": "/root", "error": "Permission denied"}],
    }

    def answer(command: str):
        if command.startswith("sudo -n "):
            return "", "sudo: a password is required\n", 1
        return json.dumps(partial), "", 0

    FakeConnection.answer = answer
    result = ccprov_audit("-i", ssh.inventory)
    assert result.exit_code == 1, result.output
    assert [c.commands[0].startswith("sudo -n ") for c in FakeConnection.made] == [True, False]
    assert "guard" in probe_source(FakeConnection.made[1].commands[0])
    assert "PARTIAL" in result.output
    assert "unprivileged: scanned as uid 1000" in result.output
    assert "sudo -n failed (sudo: a password is required)" in result.output
    assert "could not read 1 path(s): /root (Permission denied)" in result.output
    allowed = ccprov_audit("-i", ssh.inventory, "--allow-partial")
    assert allowed.exit_code == 0, allowed.output
    assert "PARTIAL" in allowed.output


def test_ansible_become_false_is_respected(ssh) -> None:
    known_hosts_line(ssh.home)
    ssh.hosts[0] = inventory.Host(
        name="ws1",
        address="gw1.example",
        user="dev",
        groups=("workstations",),
        variables={"ansible_become": False},
    )
    FakeConnection.answer = lambda command: (json.dumps({**CLEAN, "euid": 1000}), "", 0)
    result = ccprov_audit("-i", ssh.inventory)
    assert not FakeConnection.made[0].commands[0].startswith("sudo")
    assert "unprivileged: scanned as uid 1000, not root (ansible_become is false" in result.output
    # Nothing unreadable: the scan is complete, so clean.
    assert result.exit_code == 0, result.output


def test_help_names_the_options() -> None:
    text = CliRunner().invoke(cli, ["audit", "--help"]).output
    for option in ("--accept-new-host-keys", "--allow-partial", "litellm_gateway_denylist"):
        assert option in text
