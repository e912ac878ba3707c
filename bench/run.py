"""`python bench/run.py ...`: the same as `python -m bench ...` (bench/__main__.py), from
any directory."""

import sys
from pathlib import Path

if not __package__:  # run as a file: the repository on the path, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
