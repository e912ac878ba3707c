"""Render role templates as the roles do: Ansible's template engine on localhost, each role's
defaults/main.yml and vars/main.yml, the collection's filter plugins. Used for the units'
sandboxing scores, the shell scripts shellcheck reads, and the gateway config the e2e tests
run LiteLLM with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import REPO

ROLES = REPO / "roles"


@dataclass(frozen=True)
class Job:
    """ROLE's templates/TEMPLATE rendered to DEST; VARS over the role's defaults and vars
    (task variables outrank the play's vars_files)."""

    role: str
    template: str
    dest: Path
    vars: dict[str, Any] = field(default_factory=dict)


def render(
    workdir: Path,
    jobs: list[Job],
    extra_vars: dict[str, Any] | None = None,
    timeout: int = 300,
    extra_plays: list[dict[str, Any]] | None = None,
) -> subprocess.CompletedProcess[str]:
    """All JOBS in one ansible-playbook run (a play per role); EXTRA_VARS as `-e`;
    EXTRA_PLAYS (dicts, on localhost) after them in the same run. The caller judges the
    result."""
    plays: dict[str, dict[str, Any]] = {}
    for job in jobs:
        role_dir = ROLES / job.role
        play = plays.setdefault(job.role, _role_play(job.role, "templates"))
        job.dest.parent.mkdir(parents=True, exist_ok=True)
        play["tasks"].append(
            {
                "name": f"Render {job.template}",
                "ansible.builtin.template": {
                    "src": str(role_dir / "templates" / job.template),
                    "dest": str(job.dest),
                    "mode": "0644",
                },
                "vars": job.vars,
            }
        )
    return _run(workdir, list(plays.values()) + (extra_plays or []), extra_vars, timeout)


# The shared nft_allowlist role's templates, rendered with what a role passes it.
ALLOWLIST = {
    "allowlist.nft": "etc/ccprov/allowlist.nft.j2",
    "allowlist.service": "etc/systemd/system/ccprov-allowlist.service.j2",
}


def allowlist_jobs(role: str, dest: Path, variables: dict[str, Any]) -> list[Job]:
    """nft_allowlist's rules file and unit (ALLOWLIST's names, under DEST) as ROLE's
    tasks/configure.yml includes it: the include_role task's vars over nft_allowlist's
    defaults and vars, in ROLE's play (its own vars resolve), VARIABLES over all."""
    tasks = yaml.safe_load((ROLES / role / "tasks/configure.yml").read_text())
    (include,) = [
        task
        for task in tasks
        if task.get("ansible.builtin.include_role", {}).get("name") == "ccprov.stack.nft_allowlist"
    ]
    shared = ROLES / "nft_allowlist"
    inputs = {
        **yaml.safe_load((shared / "defaults/main.yml").read_text()),
        **yaml.safe_load((shared / "vars/main.yml").read_text()),
        **include["vars"],
        **variables,
    }
    return [
        Job(role, f"../../nft_allowlist/templates/{template}", dest / name, inputs)
        for name, template in ALLOWLIST.items()
    ]


def _role_play(role: str, what: str) -> dict[str, Any]:
    """A play on localhost with ROLE's defaults and vars loaded, as the role would see them
    (task variables outrank the play's vars_files); its tasks are the caller's."""
    role_dir = ROLES / role
    return {
        "name": f"Render {role}'s {what}",
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [
            str(f)
            for f in (role_dir / "defaults/main.yml", role_dir / "vars/main.yml")
            if f.is_file()
        ],
        "vars": {"role_path": str(role_dir)},
        "tasks": [],
    }


def role_vars(
    workdir: Path, role: str, names: list[str], extra_vars: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The values of NAMES as ROLE computes them (its defaults and vars, the collection's
    filters, EXTRA_VARS over them), rendered by Ansible."""
    dest = workdir / f"{role}-vars.json"
    play = _role_play(role, "variables")
    play["tasks"] = [
        {
            "name": "Write them as JSON",
            "ansible.builtin.copy": {
                "content": "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}",
                "dest": str(dest),
                "mode": "0600",
            },
        }
    ]
    proc = _run(workdir, [play], extra_vars, 300)
    if proc.returncode != 0:
        raise RuntimeError(f"rendering {role}'s variables failed:\n{proc.stdout[-2000:]}")
    values: dict[str, Any] = json.loads(dest.read_text())
    return values


def _run(
    workdir: Path, plays: list[dict[str, Any]], extra_vars: dict[str, Any] | None, timeout: int
) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    playbook = workdir / "render.yml"
    playbook.write_text(json.dumps(plays))  # JSON is YAML
    env = {
        **os.environ,
        # The roles' filters are ccprov.stack's: the checkout's collections/ resolves it.
        "ANSIBLE_COLLECTIONS_PATH": str(ROLES.parent / "collections"),
        "ANSIBLE_HOME": str(workdir / ".ansible"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
    }
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
    ]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    return subprocess.run(
        [*command, str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
