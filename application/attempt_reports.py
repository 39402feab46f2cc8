"""The reports of one attempt: its start once, then its end with the start repeated."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from application.log_context import log_context
from application.messages import Delivery

Report = Callable[..., None]  # (delivery, kind, **fields): the worker's report sender


def attempt_log_context(delivery: Delivery) -> AbstractContextManager[None]:
    """The ids of the attempt, for every line logged while it runs."""
    return log_context(
        run_id=delivery.run_id, attempt=delivery.attempt, worker_id=delivery.worker_id
    )


class AttemptReports:
    """Turns an executor's callbacks into reports; safe to call from any thread.

    The final report repeats how the attempt started, so whichever dispatcher records it
    first, and even if the start report is lost, Started is recorded before the end.
    """

    def __init__(self, delivery: Delivery, report: Report, clock: Callable[[], datetime]) -> None:
        self.delivery = delivery
        self._report = report
        self._clock = clock
        self._start: dict[str, Any] = {}
        self._ended = False
        self._lock = threading.Lock()

    def started(self, pid: int | None) -> None:
        """The attempt began (a process spawned, a call began): report it once."""
        with self._lock:
            if self._start or self._ended:  # a start heard after its end says nothing new
                return
            self._start.update(pid=pid, started_at=self._clock())
            start = dict(self._start)
        self._report(self.delivery, "started", **start)

    def finished(self, result: Any) -> None:
        """The attempt ended with `result` (an ExecutionResult): report it, start included."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            if not self._start:  # it never began (a start failure): it still began here
                self._start.update(pid=None, started_at=self._clock())
            start = dict(self._start)
        self._report(
            self.delivery,
            "succeeded" if result.succeeded else "failed",
            exit_code=result.exit_code,
            error=None if result.succeeded else result.error,
            duration_seconds=result.duration_seconds,
            output=result.output,
            timed_out=bool(getattr(result, "timed_out", False)),
            **start,
        )
