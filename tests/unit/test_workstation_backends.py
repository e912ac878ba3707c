"""The workstation role's backend table (roles/workstation/vars/backends.yml): its shape,
and what is generated from it: claude-switch's help, names and env prefixes, the env file
the role writes and the one the switcher writes when there is none (the same template, from
the role's defaults: never a secret), and ccprov's BACKENDS."""

from __future__ import annotations

import re

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ccprov.workstation import envfile
from tests.conftest import REPO, load_file
from tests.support import role_templates

ROLE = REPO / "roles/workstation"
TABLE = yaml.safe_load((ROLE / "vars/backends.yml").read_text())["__workstation_backends"]
DEFAULTS = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
# Derived variables, and the master key vibe_proxy.yml sets.
DERIVED = {*yaml.safe_load((ROLE / "vars/main.yml").read_text()), "__workstation_vibe_master_key"}
REQUIRED = {"workstation_local_base_url", "workstation_local_token"}
SECRETS = {
    "workstation_local_base_url": "https://gw-secret.example",
    "workstation_local_token": "sk-local-SECRET-0123456789",
    "workstation_cloud_api_key": "sk-ant-SECRET-0123456789",
    "workstation_backends": {
        "vllm": {"token": "sk-vllm-SECRET-0123456789"},
        "lmstudio": {"model": "my-lmstudio-model"},
    },
    # 0.1.0's name for a setting: still read.
    "workstation_ollama_model": "my-own-model",
}
home_filters = load_file("workstation_home", REPO / "plugins/filter/workstation_home.py")


def secret_values() -> list[str]:
    given = SECRETS["workstation_backends"].values()  # type: ignore[union-attr]
    return [v for v in SECRETS.values() if isinstance(v, str)] + [
        v for values in given for v in values.values()
    ]


def test_the_table_is_well_formed() -> None:
    names = [b["name"] for b in TABLE]
    assert len(set(names)) == len(names)
    assert [b["name"] for b in TABLE if b.get("cloud")] == ["cloud"]
    for backend in TABLE:
        prefix = backend["name"].upper() + "_"
        assert re.fullmatch(r"[a-z][a-z0-9]*", backend["name"])
        assert len(backend["help"]) <= 49, backend["name"]  # the help's column
        assert backend["comment"] and isinstance(backend["alias"], bool)
        for line in backend["env"]:
            assert line["key"].startswith(prefix), line
            assert ("var" in line) != ("setting" in line), line
            if "setting" in line:
                assert line["setting"] in backend["settings"], line
            for var in (line.get("var"), line.get("when"), line.get("unless")):
                if var is not None:
                    assert var in DEFAULTS or var in DERIVED or var in REQUIRED, var
        if not backend.get("cloud"):
            keys = {line["key"] for line in backend["env"]}
            assert {prefix + k for k in ("BASE_URL", "TOKEN", "MODEL")} <= keys


def test_ccprov_reads_the_self_hosted_names_in_order() -> None:
    assert tuple(b["name"] for b in TABLE if not b.get("cloud")) == envfile.BACKENDS


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("backends")
    jobs = [
        role_templates.Job(
            "workstation", "home/.local/bin/claude-switch.j2", out / "switch", SECRETS
        ),
        role_templates.Job("workstation", "home/.claude-backends.env.j2", out / "env", SECRETS),
        role_templates.Job("workstation", "home/shellrc-block.sh.j2", out / "rc", SECRETS),
    ]
    proc = role_templates.render(out / "work", jobs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {job.dest.name: job.dest.read_text() for job in jobs}


def fallback(switch: str) -> str:
    match = re.search(r"<<'TEMPLATE'\n(.*?)\nTEMPLATE\n", switch, re.S)
    assert match, "no fallback env file in claude-switch"
    return match.group(1) + "\n"


def test_the_switcher_knows_every_backend(rendered: dict[str, str]) -> None:
    switch = rendered["switch"]
    switched = [b["name"] for b in TABLE if not b.get("cloud")]
    assert f'    {" | ".join(switched)}) _ccsw_switch "$1" ;;' in switch
    for name in switched:
        assert f"    {name}) p={name.upper()} ;;" in switch
    everything = " ".join(b["name"] for b in TABLE)
    assert f"use one of: {everything} status help" in switch
    for backend in TABLE:
        assert re.search(rf"^  {backend['name']} +{re.escape(backend['help'])} ", switch, re.M)


def test_the_fallback_is_the_role_template_with_the_defaults(rendered: dict[str, str]) -> None:
    written = envfile.parse(fallback(rendered["switch"]))
    role = envfile.parse(rendered["env"])
    # The same lines, but the gateway's CA line that the fallback offers to fill in.
    assert set(written) == set(role) | {"LOCAL_CA_CERT"}
    assert written["LOCAL_CA_CERT"] == "" and written["LOCAL_MODEL"] == "devstral"
    ollama = next(b for b in TABLE if b["name"] == "ollama")["settings"]
    assert written["OLLAMA_MODEL"] == ollama["model"] and written["VLLM_TOKEN"] == ""
    for secret in secret_values():
        assert secret not in rendered["switch"]
    assert role["LOCAL_TOKEN"] == SECRETS["workstation_local_token"]


def test_a_profile_takes_its_settings_from_workstation_backends(rendered: dict[str, str]) -> None:
    """Given settings win, what is left out keeps the table's default, and 0.1.0's
    workstation_<name>_<setting> still counts."""
    role = envfile.parse(rendered["env"])
    lmstudio = next(b for b in TABLE if b["name"] == "lmstudio")["settings"]
    assert role["VLLM_TOKEN"] == "sk-vllm-SECRET-0123456789"
    assert role["LMSTUDIO_MODEL"] == "my-lmstudio-model"
    assert role["LMSTUDIO_BASE_URL"] == lmstudio["base_url"]
    assert role["OLLAMA_MODEL"] == "my-own-model"


def test_workstation_backends_refuses_what_the_table_does_not_have() -> None:
    settings = home_filters.workstation_backend_settings
    legacy = {"workstation_vllm_model": "old", "workstation_vllm_token": "t-old"}
    assert settings(TABLE, {"vllm": {"token": "t"}}, legacy)["vllm"] == {
        "base_url": "",
        "token": "t",
        "model": "old",
    }
    with pytest.raises(AnsibleFilterError, match="'lamacpp', not a backend with settings"):
        settings(TABLE, {"lamacpp": {}}, {})
    with pytest.raises(AnsibleFilterError, match=r"backends\.ollama takes a mapping"):
        settings(TABLE, {"ollama": {"url": "http://x"}}, {})
    unsafe = home_filters.workstation_unsafe_settings({"vllm": {"token": 'a"b', "model": "m"}})
    assert unsafe == ["workstation_backends.vllm.token"]


def test_every_alias_names_a_backend(rendered: dict[str, str]) -> None:
    aliases = re.findall(r"^alias cc-(\w+)='source claude-switch (\w+) && ", rendered["rc"], re.M)
    assert aliases == [(b["name"], b["name"]) for b in TABLE if b["alias"]]
    assert {"local", "cloud", "vibe", "ollama"} == {name for name, _ in aliases}
