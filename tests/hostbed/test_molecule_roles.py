"""Every role's molecule scenarios on the test bed, plus the test bed's own self-tests.

Run by tests/stages/40-molecule-roles.sh (`pytest -m hostbed -s` on this file). Molecule's
output streams to the log; each scenario's time is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.hostbed import hosts as testbed

pytestmark = pytest.mark.hostbed

PROBE_ROLE = REPO / "tests/hostbed/roles/hostbed_probe"


def scenarios() -> list[tuple[Path, str]]:
    found = []
    for molecule_yml in sorted(REPO.glob("roles/*/molecule/*/molecule.yml")):
        scenario_dir = molecule_yml.parent
        if (scenario_dir / ".opt-in").exists():  # e.g. a real-GPU scenario
            continue
        found.append((scenario_dir.parent.parent, scenario_dir.name))
    return found


def ensure_images(scenario_dir: Path) -> None:
    """The Debian 13 image when the scenario has a host on it: 40-molecule-roles builds it
    beside the scenarios before this one; build-image.sh waits for that build (its lock) and
    reuses the image, or builds it when run alone."""
    if "localhost/ccprov-hostbed-trixie" in (scenario_dir / "molecule.yml").read_text():
        build = REPO / "tests/hostbed/build-image.sh"
        subprocess.run(["bash", str(build), "trixie"], check=True, stdout=subprocess.DEVNULL)


def molecule(
    role_dir: Path, scenario: str, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """`molecule test -s SCENARIO` in the role, its output streamed to the log (and kept)."""
    testbed.ensure_key_and_network()
    ensure_images(role_dir / "molecule" / scenario)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        # .config/molecule/config.yml mounts the test-bed key and the wheel cache from here.
        "CCPROV_REPO": str(REPO),
    }
    start = time.monotonic()
    with subprocess.Popen(
        ["molecule", "test", "-s", scenario],
        cwd=role_dir,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not capture:
                print(line, end="", flush=True)
        rc = proc.wait(timeout=3600)
    print(
        f"\n### molecule {role_dir.name}/{scenario}: rc={rc} in {time.monotonic() - start:.0f}s",
        flush=True,
    )
    return subprocess.CompletedProcess(proc.args, rc, "".join(lines), "")


def molecule_test(role_dir: Path, scenario: str) -> int:
    """Run a scenario; once more if its fresh host never answered (a container that did not
    come up is the test bed's hiccup, not the role's failure, and is said so in the log)."""
    proc = molecule(role_dir, scenario)
    if (
        proc.returncode != 0
        and "UNREACHABLE!" in proc.stdout
        and "TASK [" + role_dir.name not in proc.stdout
    ):
        print(
            f"### {role_dir.name}/{scenario}: the test host never answered; retrying once",
            flush=True,
        )
        proc = molecule(role_dir, scenario)
    return proc.returncode


def test_hosts_run_systemd_and_real_units() -> None:
    assert molecule_test(PROBE_ROLE, "default") == 0


def test_a_unit_that_does_not_start_fails_the_scenario() -> None:
    proc = molecule(PROBE_ROLE, "broken", capture=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "Unable to start service hostbed-probe.service" in output


@pytest.mark.parametrize(
    ("role_dir", "scenario"), scenarios(), ids=[f"{r.name}/{s}" for r, s in scenarios()]
)
def test_role_scenario(role_dir: Path, scenario: str) -> None:
    assert molecule_test(role_dir, scenario) == 0
