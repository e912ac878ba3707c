"""Read ~/.claude-backends.env with the same grammar as claude-switch's parser."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ccprov.errors import CcprovError
from ccprov.paths import data_dir

# The workstation role's backend table (roles/workstation/vars/backends.yml), which the
# switcher, the env file and the rc aliases are made from too.
_TABLE = yaml.safe_load(
    (data_dir() / "roles/workstation/vars/backends.yml").read_text(encoding="utf-8")
)
# The self-hosted backends claude-switch switches to, in its order: every name but cloud's.
BACKENDS: tuple[str, ...] = tuple(
    str(backend["name"]) for backend in _TABLE["__workstation_backends"] if not backend.get("cloud")
)
# What a switch to one of them exports for Claude Code, in order: (variable, value), the
# value a literal or one of $url, $token, $model, $small (see route_env()).
ROUTE_ENV: tuple[tuple[str, str], ...] = tuple(
    (str(entry["var"]), str(entry["value"])) for entry in _TABLE["__workstation_route_env"]
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BARE_FORBIDDEN = re.compile(r"[\s\"'$`\\]")
_DOUBLE_FORBIDDEN = re.compile(r"[\"$`\\]")


class EnvFileError(CcprovError):
    """The env file cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class Backend:
    name: str
    base_url: str
    token: str
    model: str
    ca_file: str = ""
    """A PEM CA bundle to verify the backend's TLS certificate with (LOCAL_CA_CERT for the
    gateway); empty: the system's trust store."""

    @property
    def configured(self) -> bool:
        return bool(self.base_url)


def default_path() -> Path:
    override = os.environ.get("CLAUDE_BACKENDS_ENV")
    return Path(override) if override else Path.home() / ".claude-backends.env"


def parse(text: str, source: str = "env file") -> dict[str, str]:
    """Parse KEY="value" lines; raise EnvFileError naming the first bad line."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        if "=" not in line:
            raise EnvFileError(f"{source} line {number} is not KEY=value; fix or delete that line")
        key, value = line.split("=", 1)
        if not _KEY.match(key):
            raise EnvFileError(f"{source} line {number}: '{key}' is not a valid variable name")
        values[key] = _unquote(value.rstrip(), source, number, key)
    return values


def _unquote(value: str, source: str, number: int, key: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        if _DOUBLE_FORBIDDEN.search(inner):
            raise EnvFileError(
                f"{source} line {number}: quotes, $, ` and \\ are not allowed inside a value"
            )
        return inner
    if len(value) >= 2 and value[0] == value[-1] == "'":
        inner = value[1:-1]
        if "'" in inner:
            raise EnvFileError(f"{source} line {number}: a single-quoted value cannot contain '")
        return inner
    if _BARE_FORBIDDEN.search(value):
        raise EnvFileError(f'{source} line {number}: quote the value, e.g. {key}="..."')
    return value


def load(path: Path | None = None) -> dict[str, str]:
    path = path or default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvFileError(
            f"{path} does not exist; run `ccprov workstation` (or `source claude-switch local`"
            " to get a template)"
        ) from None
    except OSError as exc:
        raise EnvFileError(f"cannot read {path}: {exc.strerror}") from None
    return parse(text, str(path))


def backends(values: dict[str, str]) -> list[Backend]:
    return [
        Backend(
            name=name,
            base_url=values.get(f"{name.upper()}_BASE_URL", "").rstrip("/"),
            token=values.get(f"{name.upper()}_TOKEN", ""),
            model=values.get(f"{name.upper()}_MODEL", ""),
            ca_file=values.get(f"{name.upper()}_CA_CERT", "") if name == "local" else "",
        )
        for name in BACKENDS
    ]


def mask(token: str) -> str:
    """Never show a token whole: the last four characters of long ones, and the length."""
    if not token:
        return "(not set)"
    if len(token) >= 12:
        return f"****{token[-4:]} ({len(token)} chars)"
    return f"**** ({len(token)} chars)"


def route_env(backend: Backend) -> dict[str, str]:
    """The variables `source claude-switch NAME` exports for this backend (ROUTE_ENV)."""
    values = {
        "$url": backend.base_url,
        "$token": backend.token,
        "$model": backend.model,
        "$small": backend.model,
    }
    return {var: values.get(value, value) for var, value in ROUTE_ENV}
