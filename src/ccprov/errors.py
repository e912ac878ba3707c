"""ccprov's one error type. Library code raises it; only the CLI turns it into output.

The message is one line that names the fix. How the CLI reports it:
- usage errors (bad or missing input): the command's usage line and `Error: ...`, exit 2;
- plain errors: `ccprov COMMAND: ...` on standard error, exit `exit_code`;
- any other: `Error: ...`, exit `exit_code` (1 unless given).
"""

from __future__ import annotations


class CcprovError(Exception):
    """A problem the user can fix; the message (one line) says how."""

    exit_code: int = 1
    usage: bool = False
    plain: bool = False

    def __init__(
        self,
        message: str,
        *,
        exit_code: int | None = None,
        usage: bool | None = None,
        plain: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code
        if usage is not None:
            self.usage = usage
        if plain is not None:
            self.plain = plain

    def __str__(self) -> str:
        return self.message


class UsageProblem(CcprovError):
    """Bad or missing input on the command line (reported with the usage line, exit 2)."""

    exit_code = 2
    usage = True
