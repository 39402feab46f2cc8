"""Report intake: worker reports from the bus, recorded in batches, acknowledged, confirmed."""

from __future__ import annotations

import logging
import queue
import threading
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING

from application.bus import Bus, Received
from application.dispatch.policy import DispatchObserver
from application.log_context import log_context
from application.messages import Control, Report
from application.ports import Clock, Wakeup
from application.tracing import NO_SPAN, Span
from domain.context import CommandContext
from domain.statuses import ReportOutcome

if TYPE_CHECKING:
    from application.commands.app import SchedulerApp

logger = logging.getLogger(__name__)

PUMP_JOIN_SECONDS = 5.0  # at shutdown, how long the pump may take to notice it should stop


class ReportIntake:
    """Takes reports off the bus (through a pump thread while running) and records them."""

    def __init__(
        self,
        app: SchedulerApp,
        bus: Bus,
        clock: Clock,
        wakeup: Wakeup,
        observer: DispatchObserver,
        name: str,
        batch_size: int,
    ) -> None:
        self._app = app
        self._bus = bus
        self._clock = clock
        self._wakeup = wakeup
        self._observer = observer
        self._name = name
        self.batch_size = batch_size
        self._pumped: queue.Queue[Received[Report]] | None = None
        self._pump_stop = threading.Event()
        self._pump: threading.Thread | None = None

    def record(self) -> int:
        """Record a batch of reports in one save, acknowledge them, confirm to workers."""
        received = self._take()
        if not received:
            return 0
        reports = [r.message for r in received]
        now = self._clock.now()
        for report in reports:
            if report.run_id is None:
                self._record_membership(report, now)
        spans = self._spans(reports) if self._app.tracer.enabled else {}
        try:
            recorded = self._app.record_reports(reports, now)
        except Exception as error:
            self._give_back(received)
            for span in spans.values():
                span.fail(type(error).__name__)
                span.end()
            raise
        for report, outcome in recorded:
            self._observe(report, outcome)
            if (span := spans.pop(id(report), NO_SPAN)) is not NO_SPAN:
                span.set_attribute("scheduler.outcome", outcome.value)
                span.end()
        for span in spans.values():
            span.end()
        confirmations = [
            Control("recorded", report.worker_id, report.run_id, report.attempt)
            for report, _ in recorded
            if report.is_final and report.run_id is not None
        ]
        if confirmations:  # one round trip for the batch, after its save
            self._bus.publish_inbox_messages(confirmations)
        self._bus.ack_reports([r.token for r in received])
        return len(received)

    def _spans(self, reports: list[Report]) -> dict[int, Span]:
        # One span per run report, in the run's trace: what recording it took (the save).
        return {
            id(report): self._app.tracer.start(
                "dispatcher.record_report",
                report.traceparent,
                {
                    "scheduler.run_id": str(report.run_id),
                    "scheduler.attempt": report.attempt,
                    "scheduler.report": report.kind,
                    "scheduler.worker_id": str(report.worker_id),
                },
            )
            for report in reports
            if report.run_id is not None and report.traceparent is not None
        }

    def start_pump(self) -> None:
        """Block on the bus in a thread, so that a report wakes the dispatcher at once."""
        self._pumped = queue.Queue(maxsize=self.batch_size * 10)
        self._pump_stop.clear()
        self._pump = threading.Thread(target=self._run_pump, name="report-pump", daemon=True)
        self._pump.start()

    def drain(self) -> None:
        """Stop the pump; record what it took, then what is still on the bus (at shutdown)."""
        self._pump_stop.set()
        if self._pump is not None:
            self._pump.join(PUMP_JOIN_SECONDS)
        try:
            while self.record():  # what the pump already took
                pass
            self._pumped = None  # then straight from the bus, until it is empty
            while self.record():
                pass
        except Exception:
            logger.exception("final report recording failed; workers will resend")

    def _take(self) -> list[Received[Report]]:
        if self._pumped is None:
            return self._bus.receive_reports(self._name, self.batch_size, timeout=0)
        taken: list[Received[Report]] = []
        while len(taken) < self.batch_size:
            try:
                taken.append(self._pumped.get_nowait())
            except queue.Empty:
                break
        return taken

    def _give_back(self, received: list[Received[Report]]) -> None:
        # Unacknowledged, they would come back from the bus only once reclaimed (30 s):
        # retry them in the next round instead. What does not fit waits for the reclaim.
        if self._pumped is not None:
            with suppress(queue.Full):
                for item in received:
                    self._pumped.put_nowait(item)

    def _run_pump(self) -> None:
        pumped, stop = self._pumped, self._pump_stop
        assert pumped is not None
        while not stop.is_set():
            try:
                received = self._bus.receive_reports(self._name, self.batch_size, timeout=1.0)
            except Exception:  # the bus is down: back off, the work waits in the bus
                logger.warning("cannot receive reports; retrying", exc_info=True)
                stop.wait(1.0)
                continue
            for item in received:
                pumped.put(item)
            if received:
                self._wakeup.ring()

    def _record_membership(self, report: Report, now: datetime) -> None:
        ctx = CommandContext(f"worker:{report.worker_id}", now, report.worker_id)
        try:
            if report.kind == "registered":
                self._app.register_worker_once(report.worker_id, report.profile or {}, ctx)
                self._bus.publish_control(Control("recorded", report.worker_id))
            elif report.kind in ("draining", "deregistered"):
                self._app.record_worker_leaving(report.worker_id, report.kind, ctx)
        except Exception:  # one bad membership report must not block the others
            logger.exception("membership report failed", extra={"kind": report.kind})

    def _observe(self, report: Report, outcome: ReportOutcome) -> None:
        if outcome is ReportOutcome.APPLIED and report.run_id is not None:
            _log_recorded(report)
        if outcome is ReportOutcome.STALE:
            self._observer.stale_report()
        elif outcome is ReportOutcome.DUPLICATE:
            self._observer.duplicate_report()
        elif outcome is ReportOutcome.APPLIED and report.is_final:
            self._observer.run_finished(report.kind, report.duration_seconds)


def _log_recorded(report: Report) -> None:
    """One line per recorded start and outcome, in the run's context."""
    level = logging.WARNING if report.kind == "failed" else logging.INFO
    if logger.isEnabledFor(level):
        with log_context(run_id=report.run_id, attempt=report.attempt, worker_id=report.worker_id):
            logger.log(
                level,
                "worker report recorded: %s",
                report.kind,
                extra={"action": f"report_{report.kind}", "exit_code": report.exit_code},
            )
