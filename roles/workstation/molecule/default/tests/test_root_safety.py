"""The role run as root for another account never writes through that account's symlinks
out of its home, and refuses an rc file with unbalanced managed-block markers, with nothing
changed (issue #18): on a real host, as `ansible-playbook` runs it."""

from __future__ import annotations

import shlex

from tests.support.playbook import play

CANARY = "# root's own file: must stay byte-identical\n"


def snapshot(host, *paths: str) -> str:
    return host.check_output(
        "for p in " + " ".join(paths) + '; do stat -c \'%n %U %a %s\' "$p" && sha256sum "$p";'
        " done; ls -la /usr/local/bin"
    )


def test_symlinks_out_of_the_home_are_refused_and_nothing_outside_changes(host) -> None:
    host.run("userdel -r mallory 2>/dev/null; rm -f /etc/ccprov-canary")
    host.check_output(
        "useradd --create-home --shell /bin/bash mallory"
        f" && printf %s {shlex.quote(CANARY)} > /etc/ccprov-canary && chmod 0644 /etc/ccprov-canary"
        " && ln -sfn /etc/ccprov-canary /home/mallory/.bashrc"
        " && mkdir -p /home/mallory/.local && ln -s /usr/local/bin /home/mallory/.local/bin"
        " && chown -h mallory: /home/mallory/.bashrc /home/mallory/.local /home/mallory/.local/bin"
    )
    before = snapshot(host, "/etc/ccprov-canary")
    # This host only: the scenario has two (Debian 12 and 13), each tested on its own.
    proc = play("--limit", host.backend.get_hostname(), "-e", "workstation_user=mallory")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "is a symlink to" in output and "home_files does not write through it" in output
    assert snapshot(host, "/etc/ccprov-canary") == before
    assert not host.file("/usr/local/bin/claude-switch").exists
    assert host.file("/etc/ccprov-canary").content_string == CANARY


def test_an_rc_file_with_a_stray_begin_marker_is_refused_with_nothing_changed(host) -> None:
    host.run("userdel -r carol 2>/dev/null")
    rc = (
        "# carol's settings\n# BEGIN ccprov managed block: claude-switch and cc aliases\n"
        "export KEEP=1\nalias k=kubectl\n"
    )
    host.check_output(
        f"useradd --create-home --shell /bin/bash carol && printf %s {shlex.quote(rc)}"
        " > /home/carol/.bashrc && chown carol: /home/carol/.bashrc"
    )
    proc = play("--limit", host.backend.get_hostname(), "-e", "workstation_user=carol")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "without an END marker" in output, output[-3000:]
    assert host.file("/home/carol/.bashrc").content_string == rc
    assert not host.file("/home/carol/.local/bin/claude-switch").exists
    assert not host.file("/home/carol/.claude-backends.env").exists
