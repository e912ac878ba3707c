"""Fleet commands (ccprov audit/status) check host keys unless the inventory, as Ansible
reads it, turns checking off for that host (the test bed's throwaway hosts do)."""

from __future__ import annotations

import paramiko
import pytest

from ccprov.fleet import ssh as fleet
from ccprov.fleet.inventory import Host


@pytest.mark.parametrize(
    ("variables", "off"),
    [
        ({}, False),
        ({"ansible_ssh_common_args": "-o ProxyJump=bastion"}, False),
        ({"ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o LogLevel=ERROR"}, True),
        ({"ansible_ssh_extra_args": "-o stricthostkeychecking=no"}, True),
        ({"ansible_host_key_checking": False}, True),
        ({"ansible_host_key_checking": "false"}, True),
        ({"ansible_host_key_checking": True}, False),
    ],
)
def test_the_inventory_decides_whether_keys_are_checked(variables, off) -> None:
    host = Host("h", "10.0.0.1", variables=variables)
    assert fleet.host_key_checking_off(host) is off


def test_unchecked_hosts_get_a_policy_that_saves_nothing_and_says_so() -> None:
    client = paramiko.SSHClient()
    policy = fleet._check_host_keys(client, accept_new=False, unchecked=True)
    assert isinstance(policy, fleet.UncheckedHostKey)
    assert policy.added == ["host key not checked: the inventory turns host key checking off"]
    policy.missing_host_key(client, "h", None)  # accepted: no exception
    assert list(client.get_host_keys().keys()) == []  # and nothing remembered


def test_checked_hosts_refuse_unknown_keys_by_default() -> None:
    client = paramiko.SSHClient()
    assert isinstance(fleet._check_host_keys(client, accept_new=False), fleet.RejectUnknownHostKey)
    assert isinstance(fleet._check_host_keys(client, accept_new=True), fleet.AcceptNewHostKey)
