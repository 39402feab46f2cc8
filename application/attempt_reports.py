"""The reports of one attempt: its start once, its output so far, then its end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from application.log_context import log_context
from application.messages import Delivery
from application.tracing import NO_SPAN, NO_TRACER, Span, Tracer

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
    With tracing on, the attempt is a span in the run's trace (`worker.execute`), from its
    start to its end; its reports carry it, so recording them continues from it.
    """

    def __init__(
        self,
        delivery: Delivery,
        report: Report,
        clock: Callable[[], datetime],
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self.delivery = delivery
        self._report = report
        self._clock = clock
        self._tracer = tracer
        self._span: Span = NO_SPAN  # opened by the first callback: a declined attempt has none
        self._start: dict[str, Any] = {}
        self._ended = False
        self._outputs = 0  # output reports sent: each one's sequence number
        self._lock = threading.Lock()

    def started(self, pid: int | None) -> None:
        """The attempt began (a process spawned, a call began): report it once."""
        with self._lock:
            if self._start or self._ended:  # a start heard after its end says nothing new
                return
            self._open_span()
            self._start.update(pid=pid, started_at=self._clock())
            start = dict(self._start)
        self._report(self.delivery, "started", **start)

    def output(self, text: str) -> None:
        """The attempt's output so far (the executor paces these): report it, numbered."""
        with self._lock:
            if not self._start or self._ended:  # before its start or after its end: nothing
                return
            self._outputs += 1
            sequence = self._outputs
        self._report(self.delivery, "output", output=text, sequence=sequence)

    def finished(self, result: Any) -> None:
        """The attempt ended with `result` (an ExecutionResult): report it, start included."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            self._open_span()
            if not self._start:  # it never began (a start failure): it still began here
                self._start.update(pid=None, started_at=self._clock())
            start = dict(self._start)
        try:
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
        finally:
            # Not the error's text: it may quote what the task printed.
            self._close_span(None if result.succeeded else f"exit code {result.exit_code}")

    def crashed(self) -> Delivery:
        """The worker failed to run it: end its span; the delivery to report the failure with."""
        with self._lock:
            self._ended = True
        self._close_span("worker error")
        return self.delivery

    def _open_span(self) -> None:
        if self._tracer.enabled and self._span is NO_SPAN:
            delivery = self.delivery
            self._span = self._tracer.start(
                "worker.execute", delivery.traceparent, _attributes(delivery)
            )
            self.delivery = delivery.model_copy(update={"traceparent": self._span.traceparent})

    def _close_span(self, failure: str | None) -> None:
        with self._lock:
            span, self._span = self._span, NO_SPAN
        if span is not NO_SPAN:
            if failure is not None:
                span.fail(failure)
            span.end()


def _attributes(delivery: Delivery) -> dict[str, str | int]:
    return {
        "scheduler.run_id": str(delivery.run_id),
        "scheduler.attempt": delivery.attempt,
        "scheduler.worker_id": str(delivery.worker_id),
        "scheduler.task_name": delivery.task_name,
        "scheduler.executor": delivery.executor,
    }
