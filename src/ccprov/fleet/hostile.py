"""What a fleet command reads from a host is untrusted: any user there can plant file names,
and a compromised host can answer anything. These helpers bound it and make it printable."""

from __future__ import annotations

import datetime as dt
import re
import zlib
from typing import Any

MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The most a probe's answer may be, before and after decompression."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(value: Any, limit: int = 300) -> str:
    """VALUE as one line a terminal shows as text: control and bidi characters (escape
    sequences, bells, newlines) become `?`, and at most LIMIT characters are kept."""
    text = value if isinstance(value, str) else str(value)
    text = _CONTROL.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def inflate(data: bytes, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """zlib DATA decompressed, refusing more than LIMIT bytes of output (a small answer
    that inflates to gigabytes is a bomb, not a usage log)."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise ValueError(f"it inflates to more than {limit // (1024 * 1024)} MiB")
    out += inflater.flush(limit + 1 - len(out))
    if len(out) > limit:
        raise ValueError(f"it inflates to more than {limit // (1024 * 1024)} MiB")
    return out


def not_after_now(when: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    """WHEN, or now if a host's clock (or a forged line) puts it in the future."""
    now = now or dt.datetime.now(dt.UTC)
    return min(when, now)
