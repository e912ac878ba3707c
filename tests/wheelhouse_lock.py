"""Print a hash lock's requirements whose markers hold for another Python version, markers
removed, so `pip download` on the controller fetches the wheels of the test hosts' Python
too (Debian 12's 3.11.2 needs async-timeout, a controller on 3.11.7 does not).

    python3 tests/wheelhouse_lock.py LOCK 3.11.2 > lock-for-3.11.2.txt
"""

from __future__ import annotations

import sys

try:
    from packaging.markers import Marker
except ImportError:  # a fresh machine: only pip's own copy is there yet
    from pip._vendor.packaging.markers import Marker


def blocks(text: str) -> list[str]:
    """Requirement entries with their continuation lines (comments dropped)."""
    found: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[:1].isspace() and found:
            found[-1] += "\n" + line
        else:
            found.append(line)
    return found


def for_python(text: str, version: str) -> str:
    environment = {"python_full_version": version, "python_version": version.rsplit(".", 1)[0]}
    kept = []
    for block in blocks(text):
        head, _, rest = block.partition("\\")
        requirement, _, marker = head.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        kept.append(f"{requirement.strip()} \\{rest}")
    return "\n".join(kept) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} LOCK PYTHON_VERSION")
    with open(sys.argv[1], encoding="utf-8") as lock:
        sys.stdout.write(for_python(lock.read(), sys.argv[2]))
