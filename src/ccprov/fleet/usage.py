"""`ccprov usage -i INVENTORY`: who used the gateways how much (issue #21, part 2).

Every gateway's LiteLLM writes one JSON line per request to daily files
(roles/litellm_gateway/files/ccprov_usage.py, litellm_gateway_usage_dir). gather() fetches
the lines since a time from every gateway of an inventory over SSH, in parallel
(ssh.run_probe with usage_probe.py); report() aggregates them by developer, day or backend:
requests, tokens in / out, cache share (cached / input tokens), errors (status >= 400), p50 /
p95 time to first token (successful requests), last use per developer, and the developers of
the keys inventory who have not used any gateway in IDLE_DAYS (their keys are up for review).

No click here: problems are CcprovErrors whose one-line message names the fix.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccprov.errors import CcprovError
from ccprov.fleet import hostile

IDLE_DAYS = 30
"""A developer with no request in this many days is flagged for key review."""
BY = ("developer", "day", "backend")
REFUSED = "(refused key)"
"""The developer column of requests whose key was refused (the log has no name for them)."""
NO_BACKEND = "(none)"
"""The backend column of requests that never reached one (refused, rate-limited, ...)."""
DEFAULT_DIR = "/var/log/ccprov-usage"


class UsageError(CcprovError):
    """A usage problem the user can fix (the message says how)."""


@dataclass(frozen=True)
class Record:
    """One request, as a gateway logged it."""

    ts: dt.datetime
    gateway: str
    developer: str | None
    model: str | None
    backend: str | None
    status: int
    error: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    ttft_ms: float | None
    total_ms: float | None
    session: str | None = None
    count: int = 1
    """Requests this line stands for: refused ones are counted into one line a minute."""

    @property
    def ok(self) -> bool:
        return self.status < 400


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value >= 0 else None


def _str(value: Any) -> str | None:
    """A text field of a log line, printable (a gateway's file is not trusted: names,
    models and errors are printed in the operator's terminal)."""
    return hostile.printable(value, 200) if isinstance(value, str) and value else None


def parse_time(text: str) -> dt.datetime:
    """An ISO time (a trailing Z allowed), as an aware UTC datetime; naive means UTC."""
    when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def parse_record(line: str | bytes, gateway: str) -> Record | None:
    """One log line as a Record; None for a line that is not one (cut short, foreign)."""
    try:
        data = json.loads(line)
        ts = hostile.not_after_now(parse_time(data["ts"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not isinstance(data, dict):
        return None
    status = data.get("status")
    return Record(
        ts=ts,
        gateway=gateway,
        developer=_str(data.get("developer")),
        model=_str(data.get("model")),
        backend=_str(data.get("backend")),
        status=status if isinstance(status, int) and not isinstance(status, bool) else 500,
        error=_str(data.get("error")),
        input_tokens=_int(data.get("input_tokens")),
        output_tokens=_int(data.get("output_tokens")),
        cached_tokens=_int(data.get("cached_tokens")),
        ttft_ms=_float(data.get("ttft_ms")),
        total_ms=_float(data.get("total_ms")),
        session=_str(data.get("session")),
        count=_int(data.get("count")) or 1,
    )


def parse_lines(text: str | bytes, gateway: str) -> tuple[list[Record], int]:
    """The records of a block of JSON lines, and how many lines were skipped."""
    records: list[Record] = []
    skipped = 0
    lines = (
        text.splitlines() if isinstance(text, str) else text.decode("utf-8", "replace").splitlines()
    )
    for line in lines:
        if not line.strip():
            continue
        record = parse_record(line, gateway)
        if record is None:
            skipped += 1
        else:
            records.append(record)
    return records, skipped


_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """`7d`, `12h`, `30m`, `2w` before now, or a date / ISO time (UTC): the start of a report."""
    now = now or dt.datetime.now(dt.UTC)
    match = _SPAN.match(text or "")
    if match:
        return now - dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        return parse_time(text)
    except (ValueError, AttributeError):
        raise UsageError(
            f"--since must be a span like 7d, 12h, 30m, 2w or a date like 2026-11-01, not {text!r}"
        ) from None


def iso(when: dt.datetime) -> str:
    """UTC, milliseconds, Z: the form the log's ts has (so strings compare like times)."""
    when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# --- Gathering over SSH -------------------------------------------------------------------


@dataclass
class Gathered:
    """What gather() found: the records, and per gateway what went wrong or is worth a note."""

    records: list[Record]
    gateways: list[str]
    problems: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    skipped: int = 0
    last_use: dict[str, dt.datetime] = field(default_factory=dict)
    """Each developer's latest request over the idle window (and the records), any gateway."""


def _plain(value: Any) -> Any:
    """An inventory value ccprov can use as is (not a template it does not render)."""
    return None if value is None or "{{" in str(value) else value


def _role_default_dir() -> str:
    """litellm_gateway_usage_dir from the role's defaults as ccprov ships them."""
    import yaml

    from ccprov import paths

    try:
        path = paths.data_dir() / "roles/litellm_gateway/defaults/main.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, FileNotFoundError, yaml.YAMLError):
        return DEFAULT_DIR
    value = data.get("litellm_gateway_usage_dir") if isinstance(data, dict) else None
    return str(value) if value else DEFAULT_DIR


def decode_probe(data: Mapping[str, Any], gateway: str) -> tuple[list[Record], int]:
    """The records in one usage_probe.py answer."""
    try:
        raw = hostile.inflate(base64.b64decode(str(data.get("data") or ""), validate=True))
    except (binascii.Error, zlib.error) as exc:
        raise UsageError(
            f"{gateway}: the usage probe's answer is damaged ({exc}); rerun `ccprov usage`"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{gateway}: the usage probe's answer is refused: {exc}") from None
    return parse_lines(raw, gateway)


def gather(
    inventory_path: Path,
    since: dt.datetime,
    limit: str | None = None,
    forks: int = 25,
    accept_new_host_keys: bool = False,
    become: bool | None = None,
    now: dt.datetime | None = None,
) -> Gathered:
    """Every gateway's usage lines since `since`, fetched over SSH in parallel, and each
    developer's last use over at least IDLE_DAYS (window_start; only the times travel).

    Connects as Ansible would (the inventory's user, key, port); become None: sudo -n unless
    that user is root (ssh.run_probe's rule). The files are 0640 to
    litellm_gateway_usage_group, so the user must be root, in that group, or allowed sudo -n.
    A gateway that cannot be read is in .problems (its lines are not counted), one without a
    usage log yet in .notes."""
    from ccprov import probes
    from ccprov.fleet import inventory, ssh

    hosts = [h for h in inventory.load(inventory_path, limit) if "gateways" in h.groups]
    if not hosts:
        raise UsageError(
            f"no host of group gateways in {inventory_path}"
            + (f" matches --limit {limit}" if limit else "")
            + ": pass -i inventories/<env> of your gateways"
        )
    source = probes.source("usage_probe")
    default_dir = _role_default_dir()
    last_use_since = window_start(since, now)
    by_args: dict[str, list[Any]] = {}
    for host in hosts:
        directory = _plain(host.variables.get("litellm_gateway_usage_dir")) or default_dir
        args = json.dumps(
            {"dir": str(directory), "since": iso(since), "last_use_since": iso(last_use_since)},
            sort_keys=True,
        )
        by_args.setdefault(args, []).append(host)
    found = Gathered(records=[], gateways=[h.name for h in hosts])
    for args, members in by_args.items():
        for result in ssh.run_probe(
            members,
            source,
            [args],
            forks=forks,
            become=become,
            accept_new_host_keys=accept_new_host_keys,
        ):
            name = result.host.name
            if result.notes:
                found.notes[name] = list(result.notes)
            if result.data is None:
                found.problems[name] = result.error or "no answer"
                continue
            if result.data.get("missing"):
                found.notes.setdefault(name, []).append(
                    f"no usage log yet in {result.data.get('dir')} (litellm_gateway_usage_log)"
                )
                continue
            try:
                records, skipped = decode_probe(result.data, name)
            except UsageError as exc:
                found.problems[name] = str(exc)
                continue
            found.records.extend(records)
            found.skipped += skipped
            _merge_last_use(found.last_use, result.data.get("last_use"))
    found.records.sort(key=lambda r: r.ts)
    _merge_last_use(found.last_use, {k: iso(v) for k, v in last_use(found.records).items()})
    return found


def _merge_last_use(into: dict[str, dt.datetime], found: Any) -> None:
    for name, text in (found or {}).items() if isinstance(found, Mapping) else ():
        try:
            when = hostile.not_after_now(parse_time(str(text)))
        except ValueError:
            continue
        if name not in into or when > into[name]:
            into[name] = when


def window_start(since: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    """Since when last use must be known to judge idle keys: IDLE_DAYS back at least."""
    now = now or dt.datetime.now(dt.UTC)
    return min(since, now - dt.timedelta(days=IDLE_DAYS))


# --- Aggregation -------------------------------------------------------------------------


def percentile(values: Iterable[float], pct: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least pct% of values at or
    below it); None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Row:
    key: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    errors: int = 0
    ttfts: list[float] = field(default_factory=list, repr=False)
    last_use: dt.datetime | None = None

    def add(self, record: Record) -> None:
        self.requests += record.count
        self.input_tokens += record.input_tokens
        self.output_tokens += record.output_tokens
        self.cached_tokens += record.cached_tokens
        if record.ok:
            if record.ttft_ms is not None:
                self.ttfts.append(record.ttft_ms)
        else:
            self.errors += record.count
        if self.last_use is None or record.ts > self.last_use:
            self.last_use = record.ts

    @property
    def cache_share(self) -> float | None:
        """Cached / input tokens (input counts the cached ones too); None without input."""
        return self.cached_tokens / self.input_tokens if self.input_tokens else None

    @property
    def ttft_p50(self) -> float | None:
        return percentile(self.ttfts, 50)

    @property
    def ttft_p95(self) -> float | None:
        return percentile(self.ttfts, 95)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_share": None if self.cache_share is None else round(self.cache_share, 4),
            "errors": self.errors,
            "ttft_p50_ms": self.ttft_p50,
            "ttft_p95_ms": self.ttft_p95,
            "last_use": iso(self.last_use) if self.last_use else None,
        }


def _key(record: Record, by: str) -> str:
    if by == "developer":
        return record.developer or REFUSED
    if by == "day":
        return record.ts.astimezone(dt.UTC).date().isoformat()
    return record.backend or NO_BACKEND


def last_use(records: Iterable[Record]) -> dict[str, dt.datetime]:
    """Each developer's latest request (any status) in the records (for `ccprov keys list`)."""
    found: dict[str, dt.datetime] = {}
    for record in records:
        if record.developer and (
            record.developer not in found or record.ts > found[record.developer]
        ):
            found[record.developer] = record.ts
    return found


def _created(entry: Mapping[str, Any]) -> dt.datetime | None:
    value = entry.get("created")
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    try:
        return parse_time(str(value)) if value else None
    except ValueError:
        return None


def idle_developers(
    developers: Mapping[str, Mapping[str, Any]],
    used: Mapping[str, dt.datetime],
    now: dt.datetime,
    days: int = IDLE_DAYS,
) -> list[str]:
    """Developers with an active key (not disabled) and no request in `days` days; a key
    created less than `days` ago is not flagged yet."""
    cutoff = now - dt.timedelta(days=days)
    flagged = []
    for name, entry in sorted(developers.items()):
        entry = entry if isinstance(entry, Mapping) else {}
        if entry.get("disabled"):
            continue
        created = _created(entry)
        if created is not None and created > cutoff:
            continue
        latest = used.get(name)
        if latest is None or latest < cutoff:
            flagged.append(name)
    return flagged


@dataclass
class Report:
    by: str
    since: dt.datetime
    now: dt.datetime
    rows: list[Row]
    total: Row
    last_use: dict[str, dt.datetime]
    idle: list[str]
    problems: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": iso(self.since),
            "until": iso(self.now),
            "rows": [row.as_dict() for row in self.rows],
            "total": self.total.as_dict(),
            "last_use": {name: iso(when) for name, when in sorted(self.last_use.items())},
            "idle_days": IDLE_DAYS,
            "idle_developers": list(self.idle),
            "problems": dict(self.problems),
            "notes": {name: list(items) for name, items in self.notes.items()},
        }

    def json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False)

    def table(self) -> str:
        head = self.by.upper()
        columns = [
            head,
            "REQUESTS",
            "TOKENS IN",
            "TOKENS OUT",
            "CACHE",
            "ERRORS",
            "TTFT P50",
            "TTFT P95",
        ]
        with_last = self.by == "developer"
        if with_last:
            columns.append("LAST USE")
        body = [self._cells(row, with_last) for row in [*self.rows, self.total]]
        widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]

        def line(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest]).rstrip()

        out = [
            f"Usage since {iso(self.since)} until {iso(self.now)}, by {self.by}:",
            line(columns),
        ]
        out += [line(cells) for cells in body[:-1]]
        out.append(line(["-" * widths[0], *["-" * w for w in widths[1:]]]))
        out.append(line(body[-1]))
        if self.idle:
            out.append(
                f"No request in {IDLE_DAYS} days (review their keys: `ccprov keys revoke NAME`): "
                + ", ".join(self.idle)
            )
        for name, problem in sorted(self.problems.items()):
            out.append(f"{name}: NOT COUNTED: {problem}")
        for name, items in sorted(self.notes.items()):
            out.extend(f"{name}: {item}" for item in items)
        return "\n".join(out)

    @staticmethod
    def _cells(row: Row, with_last: bool) -> list[str]:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f} ms"

        cells = [
            row.key,
            str(row.requests),
            str(row.input_tokens),
            str(row.output_tokens),
            "-" if row.cache_share is None else f"{100 * row.cache_share:.1f}%",
            str(row.errors),
            ms(row.ttft_p50),
            ms(row.ttft_p95),
        ]
        if with_last:
            cells.append(row.last_use.strftime("%Y-%m-%d %H:%M") if row.last_use else "-")
        return cells


def report(
    records: Iterable[Record],
    by: str = "developer",
    developers: Mapping[str, Mapping[str, Any]] | None = None,
    now: dt.datetime | None = None,
    since: dt.datetime | None = None,
    gathered: Gathered | None = None,
) -> Report:
    """Aggregate RECORDS at or after `since` by developer, day or backend (rows sorted by
    key; TOTAL last). Last use and idle developers (of `developers`, the keys inventory's
    name -> {created, disabled} entries) come from all RECORDS, however old, and from
    `gathered`.last_use (gather() fetches that over IDLE_DAYS at least)."""
    if by not in BY:
        raise UsageError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    now = now or dt.datetime.now(dt.UTC)
    everything = list(records)
    start = since or (min((r.ts for r in everything), default=now))
    rows: dict[str, Row] = {}
    total = Row("TOTAL")
    for record in everything:
        if record.ts < start:
            continue
        key = _key(record, by)
        rows.setdefault(key, Row(key)).add(record)
        total.add(record)
    used = last_use(everything)
    if gathered is not None:
        _merge_last_use(used, {k: iso(v) for k, v in gathered.last_use.items()})
    if by == "developer":
        # Every active key gets a row, used or not (revoked ones only if they were used).
        for name, entry in (developers or {}).items():
            if name not in rows and not (isinstance(entry, Mapping) and entry.get("disabled")):
                rows[name] = Row(name, last_use=used.get(name))
    return Report(
        by=by,
        since=start,
        now=now,
        rows=[rows[key] for key in sorted(rows)],
        total=total,
        last_use=used,
        idle=idle_developers(developers or {}, used, now),
        problems=dict(gathered.problems) if gathered else {},
        notes={k: list(v) for k, v in gathered.notes.items()} if gathered else {},
    )


def collect_report(
    inventory_path: Path,
    since: str = "7d",
    by: str = "developer",
    developers: Mapping[str, Mapping[str, Any]] | None = None,
    limit: str | None = None,
    forks: int = 25,
    accept_new_host_keys: bool = False,
    now: dt.datetime | None = None,
) -> Report:
    """`ccprov usage` in one call: parse --since, gather from every gateway, aggregate.
    The report's .problems name the gateways whose lines are missing from it."""
    if by not in BY:
        raise UsageError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    now = now or dt.datetime.now(dt.UTC)
    start = parse_since(since, now)
    found = gather(
        inventory_path, start, limit, forks, accept_new_host_keys=accept_new_host_keys, now=now
    )
    return report(found.records, by, developers, now, start, found)
