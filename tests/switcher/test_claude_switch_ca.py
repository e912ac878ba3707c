"""claude-switch and the gateway's private CA (LOCAL_CA_CERT -> NODE_EXTRA_CA_CERTS), in
real bash and zsh."""

from __future__ import annotations

import pytest

from tests.switcher.conftest import SHELLS, write_env
from tests.switcher.test_claude_switch import GOOD_ENV

pytestmark = pytest.mark.parametrize("shell", SHELLS)


@pytest.fixture
def ca(home):
    path = home / ".config" / "ccprov" / "gateway-ca.pem"
    path.parent.mkdir(parents=True)
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_local_exports_the_ca_and_status_shows_it(shell, home, run_switch, ca) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    run = run_switch(shell, "local")
    assert run.rc == 0, run.stderr
    assert run.after["NODE_EXTRA_CA_CERTS"] == ca
    status = run_switch(shell, "status", prelude="source claude-switch local >/dev/null")
    assert f"CA:       {ca} (NODE_EXTRA_CA_CERTS)" in status.stdout


def test_local_without_a_ca_leaves_it_unset(shell, home, run_switch) -> None:
    write_env(home, GOOD_ENV)
    run = run_switch(shell, "local")
    assert run.rc == 0
    assert "NODE_EXTRA_CA_CERTS" not in run.after
    assert "(system's trust store)" in run_switch(shell, "status").stdout


@pytest.mark.parametrize("route", ["cloud", "vllm", "ollama"])
def test_other_routes_clear_it(shell, home, run_switch, ca, route) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    run = run_switch(shell, route, prelude="source claude-switch local >/dev/null")
    assert run.rc == 0, run.stderr
    assert run.before["NODE_EXTRA_CA_CERTS"] == ca
    assert "NODE_EXTRA_CA_CERTS" not in run.after
    assert not {"CLAUDE_SWITCH_CA", "CLAUDE_SWITCH_SAVED_CA"} & set(run.after)


def test_a_value_of_the_developers_own_comes_back(shell, home, run_switch, ca) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{ca}"\n')
    mine = {"NODE_EXTRA_CA_CERTS": "/etc/corp/proxy-ca.pem"}
    local = run_switch(shell, "local", extra_env=mine)
    assert local.after["NODE_EXTRA_CA_CERTS"] == ca
    back = run_switch(
        shell, "cloud", prelude="source claude-switch local >/dev/null", extra_env=mine
    )
    assert back.after["NODE_EXTRA_CA_CERTS"] == "/etc/corp/proxy-ca.pem"
    # Without a CA of its own the switcher never touches it.
    write_env(home, GOOD_ENV)
    plain = run_switch(shell, "local", extra_env=mine)
    assert plain.after["NODE_EXTRA_CA_CERTS"] == "/etc/corp/proxy-ca.pem"


def test_a_missing_ca_file_is_an_error_and_changes_nothing(shell, home, run_switch) -> None:
    write_env(home, GOOD_ENV + f'LOCAL_CA_CERT="{home}/nope.pem"\n')
    run = run_switch(shell, "local")
    assert run.rc == 1
    assert run.changed_env == {}
    assert f"LOCAL_CA_CERT names {home}/nope.pem, which is missing or unreadable" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_the_template_it_writes_has_the_ca_line(shell, home, run_switch) -> None:
    run = run_switch(shell, "local")
    assert run.rc == 1
    assert 'LOCAL_CA_CERT=""' in (home / ".claude-backends.env").read_text()
