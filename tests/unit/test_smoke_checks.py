"""The smoke test's judgements: a real answer passes, an echo or a dodge does not."""

from __future__ import annotations

from pathlib import Path

from ccprov.workstation import smoke, smoke_cases

REVIEW = """1. Line 4: `total =+ v` assigns +v instead of adding; it should be `total += v`.
2. Line 5: the extra `+ 1` is wrong: the average is off by one.
3. Line 9: `items[len(items)]` raises IndexError; use `items[-1]`."""


def by_name(tmp_path: Path) -> dict[str, smoke_cases.Case]:
    return {c.name: c for c in smoke_cases.cases(tmp_path)}


def test_code_review_needs_explanations(tmp_path) -> None:
    check = by_name(tmp_path)["Code review (3 bugs)"].check
    assert check(REVIEW)
    assert not check(smoke_cases.BUGGY_SAMPLE)  # echoing the file is not a review
    assert not check("Line 4, line 5 and line 9 look odd.")


def test_other_judgements(tmp_path) -> None:
    cases = by_name(tmp_path)
    assert cases["Reasoning (mutex vs semaphore)"].check(
        "A mutex has an owner; a semaphore counts."
    )
    assert not cases["Reasoning (mutex vs semaphore)"].check("Use locks.")
    assert cases["Error recovery (missing file)"].check("That file does not exist.")
    assert cases["Code generation"].check("def is_palindrome(s):\n    ...")
    assert not cases["Code generation"].check("I cannot help with that.")


def test_table_shows_times_and_verdicts(tmp_path) -> None:
    case = by_name(tmp_path)["Simple prompt"]
    table = smoke.table([smoke.Outcome(case, True, 1.23, "SELFHOSTED_CLAUDE_TEST_OK")])
    assert "| Simple prompt | Pass (1.2s): SELFHOSTED_CLAUDE_TEST_OK |" in table
