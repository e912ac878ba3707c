"""Data stays on-network (issue #18): the real `claude -p` after `source claude-switch local`
connects to the gateway and nowhere else, and makes no DNS query, because the switcher
exports CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC (and its siblings). Seen with strace:
every connect/sendto/sendmsg/sendmmsg with an inet address, plus the resolver's local
sockets (nscd, systemd-resolved). The control run unsets the switcher's four settings after
sourcing and must show some other destination or a DNS query: proof that the check can fail.

The developer's base environment (tests/e2e/conftest.py) sets two of those variables; here
they are unset before sourcing, so they come only from the switcher. The machine has no
internet: a connect elsewhere fails, but strace still records the attempt."""

from __future__ import annotations

import codecs
import os
import pwd
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Backend
from tests.e2e.conftest import Developer

CCPROV = str(Path(sys.executable).parent / "ccprov")
# What the switcher sets for data to stay on-network
# (roles/workstation/templates/home/.local/bin/claude-switch.j2).
ON_NETWORK_VARS = (
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_TELEMETRY",
    "DISABLE_ERROR_REPORTING",
    "DISABLE_AUTOUPDATER",
)
# The resolver's local sockets: a query through them is a DNS lookup too. (nscd also
# answers passwd/group lookups; counted all the same, so USER must be set for the runs.)
RESOLVER_SOCKETS = {
    "/var/run/nscd/socket",
    "/run/nscd/socket",
    "/run/systemd/resolve/io.systemd.Resolve",
    "/run/systemd/resolve/io.systemd.Resolve.Monitor",
}
SYSCALLS = "connect,sendto,sendmsg,sendmmsg"

_CALL = re.compile(r"^(connect|sendto|sendmsg|sendmmsg)\(")
_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(
    r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"'
)
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=@?"([^"]*)"')
_FD = re.compile(r"^\w+\((\d+),")
_PAYLOAD = re.compile(r'(?:iov_base=|^sendto\(\d+, )"((?:[^"\\]|\\.)*)"')


@dataclass
class Traffic:
    """What a strace log shows: inet destinations and DNS queries."""

    inet: set[tuple[str, int]] = field(default_factory=set)
    dns: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # the names asked, where strace shows them

    def describe(self) -> str:
        dests = ", ".join(f"{h}:{p}" for h, p in sorted(self.inet)) or "none"
        return (
            f"inet destinations: {dests}; DNS: {self.dns or 'none'};"
            f" names asked: {sorted(self.names) or 'none seen'}"
        )


def dns_question(escaped: str) -> str | None:
    """The name in a DNS query, from strace's C-escaped copy of the packet (may be cut)."""
    data: bytes = codecs.escape_decode(escaped.encode("latin-1"))[0]
    labels, i = [], 12
    while i < len(data) and data[i]:
        end = i + 1 + data[i]
        if end > len(data):
            return None
        labels.append(data[i + 1 : end].decode("ascii", "replace"))
        i = end
    return ".".join(labels) if labels and i < len(data) else None


def parse_strace(text: str) -> Traffic:
    traffic = Traffic()
    dns_fds: set[str] = set()  # sockets connected to port 53 (one process: fds are shared)
    for line in text.splitlines():
        line = re.sub(r"^(?:\[pid\s+)?\d+\]?\s+", "", line.strip())
        call = _CALL.match(line)
        if not call:
            continue
        fd = _FD.match(line)
        found = [(m.group(2), int(m.group(1))) for m in _INET.finditer(line)]
        found += [(m.group(2), int(m.group(1))) for m in _INET6.finditer(line)]
        for host, port in found:
            traffic.inet.add((host, port))
            if port == 53:
                traffic.dns.append(f"{call.group(1)} {host}:53")
                if fd:
                    dns_fds.add(fd.group(1))
        if call.group(1) == "connect" and fd and not any(p == 53 for _, p in found):
            dns_fds.discard(fd.group(1))
        for m in _UNIX.finditer(line):
            if m.group(1) in RESOLVER_SOCKETS:
                traffic.dns.append(f"{call.group(1)} {m.group(1)}")
        if call.group(1) != "connect" and fd and fd.group(1) in dns_fds:
            for m in _PAYLOAD.finditer(line):
                name = dns_question(m.group(1))
                if name:
                    traffic.names.add(name)
    return traffic


def test_parse_strace_finds_inet_dns_and_resolver_sockets() -> None:
    log = "\n".join(
        [
            "101 connect(19, {sa_family=AF_INET, sin_port=htons(8000), "
            'sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress)',
            "102 connect(3, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
            'inet_pton(AF_INET6, "2607:6bc0::10", &sin6_addr), sin6_scope_id=0}, 28'
            " <unfinished ...>",
            "102 <... connect resumed>) = -1 ENETUNREACH (Network is unreachable)",
            '103 sendto(5, "\\1\\2", 40, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(53), '
            'sin_addr=inet_addr("10.0.0.2")}, 16) = 40',
            "103 connect(9, {sa_family=AF_INET, sin_port=htons(53), "
            'sin_addr=inet_addr("10.0.0.2")}, 16) = 0',
            "103 sendmmsg(9, [{msg_hdr={msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="
            '"\'\\242\\1\\0\\0\\1\\0\\0\\0\\0\\0\\0\\3api\\tanthropic\\3com\\0\\0\\1\\0\\1", '
            "iov_len=35}], msg_iovlen=1}, msg_len=35}], 1, MSG_NOSIGNAL) = 1",
            '104 connect(6, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
            '105 connect(7, {sa_family=AF_UNIX, sun_path="/tmp/other.sock"}, 110) = 0',
            '106 connect(8, {sa_family=AF_UNSPEC, sa_data=""}, 16) = 0',
        ]
    )
    traffic = parse_strace(log)
    assert traffic.inet == {("127.0.0.1", 8000), ("2607:6bc0::10", 443), ("10.0.0.2", 53)}
    assert traffic.dns == [
        "sendto 10.0.0.2:53",
        "connect 10.0.0.2:53",
        "connect /var/run/nscd/socket",
    ]
    assert traffic.names == {"api.anthropic.com"}


@pytest.fixture(scope="module")
def onboarded(
    developer_module: Developer, standin_vllm: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Developer:
    """The developer onboarded as ops would: ccprov workstation (root: --user)."""
    if not shutil.which("strace"):
        pytest.fail("strace is not installed: add it to tests/stages/00-setup.sh's apt list")
    key = tmp_path_factory.mktemp("on-network") / "gateway.key"
    key.write_text(standin_vllm.api_key + "\n")
    key.chmod(0o600)
    command = [
        CCPROV,
        "workstation",
        "--base-url",
        standin_vllm.url,
        "--token-file",
        str(key),
        "--yes",
    ]
    if os.geteuid() == 0:
        command += ["--user", developer_module.name]
        env = {**os.environ}
    else:
        env = {**os.environ, "HOME": str(developer_module.home)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return developer_module


def traced_claude(developer: Developer, name: str, after_switch: str = "") -> tuple[Traffic, str]:
    """`source claude-switch local`, then `claude -p "Say OK"` under strace, as the
    developer. The base environment's copies of the switcher's settings are unset first."""
    log = developer.home / f"strace-{name}.txt"
    log.unlink(missing_ok=True)
    command = (
        f"unset {' '.join(ON_NETWORK_VARS)}; "
        "source claude-switch local || exit 99; "
        f"{after_switch}"
        'echo "nonessential=${CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC-unset}"; '
        f"strace -f -qq -s 256 -e trace={SYSCALLS} -o {log} "
        'claude -p "Say OK" --output-format text </dev/null'
    )
    proc = developer.run(command)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert proc.stdout.strip().splitlines()[-1] == "OK", output
    assert log.exists(), output
    return parse_strace(log.read_text()), proc.stdout


def gateway_address(backend: Backend) -> tuple[str, int]:
    host, port = backend.url.removeprefix("http://").split(":")
    return host, int(port)


def test_claude_on_the_local_route_talks_only_to_the_gateway(
    onboarded: Developer, standin_vllm: Backend
) -> None:
    traffic, stdout = traced_claude(onboarded, "switched")
    assert "nonessential=1" in stdout  # from the switcher alone
    assert traffic.inet == {gateway_address(standin_vllm)}, traffic.describe()
    assert traffic.dns == [], traffic.describe()


def test_control_without_the_switchers_settings_reaches_off_network(
    onboarded: Developer, standin_vllm: Backend
) -> None:
    """The same run with the four settings unset after sourcing: Claude Code then tries
    somewhere else too (a DNS lookup at least), so the test above can fail."""
    traffic, stdout = traced_claude(
        onboarded, "control", after_switch=f"unset {' '.join(ON_NETWORK_VARS)}; "
    )
    assert "nonessential=unset" in stdout
    assert gateway_address(standin_vllm) in traffic.inet, traffic.describe()
    off_network = traffic.inet - {gateway_address(standin_vllm)}
    assert off_network or traffic.dns, traffic.describe()
    print(traffic.describe())


# --- The local agents the vibe-orchestrator skill runs: OpenCode and Mistral Vibe -----------
# Configured by `ccprov workstation --agent ...`, they do not use the switcher; each must
# still talk only to the gateway. Installed for the account running the tests, in a
# temporary home (as tests/e2e/test_mistral_vibe_agent.py does: the Python >= 3.12 here is
# under /root, out of the test developer's reach).


def traced_agent(home: Path, name: str, argv: list[str]) -> Traffic:
    if not shutil.which("strace"):
        pytest.fail("strace is not installed: add it to tests/stages/00-setup.sh's apt list")
    log = home.parent / f"strace-{name}.txt"
    env = {
        "HOME": str(home),
        "USER": pwd.getpwuid(os.geteuid()).pw_name,
        "PATH": f"{home}/.local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    strace = ["strace", "-f", "-qq", "-s", "256", "-e", f"trace={SYSCALLS}", "-o", str(log)]
    proc = subprocess.run(
        [*strace, *argv],
        cwd=home / "project",
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].strip() == "OK", proc.stdout + proc.stderr
    return parse_strace(log.read_text())


def test_opencode_talks_only_to_the_gateway(agents_home: Path, standin_vllm: Backend) -> None:
    traffic = traced_agent(agents_home, "opencode", ["opencode", "run", "Say OK"])
    assert traffic.inet == {gateway_address(standin_vllm)}, traffic.describe()
    assert traffic.dns == [], traffic.describe()


def test_mistral_vibe_talks_only_to_the_gateway(agents_home: Path, standin_vllm: Backend) -> None:
    traffic = traced_agent(agents_home, "vibe", ["vibe", "-p", "Say OK", "--output", "text"])
    assert traffic.inet == {gateway_address(standin_vllm)}, traffic.describe()
    assert traffic.dns == [], traffic.describe()


def test_control_opencode_without_the_wrapper_looks_up_its_model_list(
    agents_home: Path, standin_vllm: Backend
) -> None:
    """The role's ~/.local/bin/opencode wrapper turns off OpenCode's fetches; the unwrapped
    binary looks its model list up (off-network): the two tests above can fail."""
    binary = next(agents_home.glob(".local/share/ccprov/opencode/*/package/bin/opencode"))
    traffic = traced_agent(agents_home, "opencode-unwrapped", [str(binary), "run", "Say OK"])
    assert gateway_address(standin_vllm) in traffic.inet, traffic.describe()
    assert traffic.dns, traffic.describe()
    print(traffic.describe())
