# ccprov's stdout callback: one line per task, a one-line reason on failure, and a JSON
# summary (counts, failures) the CLI reads. Never prints a no_log result.
from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: ccprov_progress
type: stdout
short_description: Compact per-task progress for the ccprov CLI
description:
  - Prints one line per task with its state and duration, a one-line reason for failures,
    and writes counts and failure messages as JSON to $CCPROV_SUMMARY_FILE.
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "ccprov_progress"

    def __init__(self) -> None:
        super().__init__()
        self._task_start = 0.0
        self._started = time.perf_counter()
        self._counts = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0}
        self._failures: list[dict[str, str]] = []
        self._check_mode = False

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._check_mode = bool(getattr(play, "check_mode", False))

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._task_start = time.perf_counter()

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._task_start = time.perf_counter()

    def _line(self, state: str, result: Any) -> None:
        elapsed = time.perf_counter() - self._task_start
        name = result._task.get_name().split(" : ", 1)[-1]
        if name.startswith("Validating arguments against arg spec"):
            name = "Check the role's inputs"
        host = result._host.get_name()
        self._display.display(f"  {state:<9} {name}  [{host}, {elapsed:.1f}s]")

    @staticmethod
    def _message(result: Any) -> str:
        data = result._result
        if data.get("censored") or result._task.no_log:
            return "details hidden: the task handles secrets (re-run with -v to see which task)"
        msg = data.get("msg") or data.get("stderr") or data.get("module_stderr") or "failed"
        return " ".join(str(msg).split())[:500]

    def v2_runner_on_ok(self, result: Any) -> None:
        changed = bool(result._result.get("changed"))
        self._counts["changed" if changed else "ok"] += 1
        if changed:
            self._line("would" if self._check_mode else "changed", result)
            # home_files writes many files in one task: say which (never for no_log tasks).
            if not result._task.no_log and not result._result.get("censored"):
                for change in result._result.get("changes") or []:
                    self._display.display(f"            {change}")
        else:
            self._line("ok", result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._counts["skipped"] += 1

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if ignore_errors:
            self._line("ok", result)
            return
        self._counts["failed"] += 1
        self._line("FAILED", result)
        message = self._message(result)
        self._failures.append({"task": result._task.get_name(), "msg": message})
        self._display.display(f"            {message}", stderr=True)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._counts["unreachable"] += 1
        self._line("UNREACH", result)
        message = self._message(result)
        self._failures.append({"task": result._task.get_name(), "msg": message})
        self._display.display(f"            {message}", stderr=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        summary = {
            **self._counts,
            "failures": self._failures,
            "seconds": round(time.perf_counter() - self._started, 2),
        }
        path = os.environ.get("CCPROV_SUMMARY_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(summary, handle)
