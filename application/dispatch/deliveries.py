"""What a worker is sent for one attempt of an open run, and when it was last sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable
from uuid import UUID

from application.bus import Bus
from application.dispatch.entries import OpenRun
from application.log_context import log_context
from application.messages import Delivery
from application.secrets import Opener
from application.tracing import NO_TRACER, Span, Tracer

logger = logging.getLogger(__name__)


def delivery_for(run: OpenRun, opener: Opener, traceparent: str | None = None) -> Delivery:
    """The delivery of the run's current attempt to its worker (raises if it cannot be made)."""
    if run.worker_id is None:
        raise ValueError(f"run {run.run_id} is on no worker: nothing to deliver")
    task = run.task
    # Secrets: the one place sealed values are opened, for the worker that runs the task
    # (docs/security.md#secrets). One that cannot be opened holds the run (Courier).
    opened = opener.run(run.task_id, task, run.params)
    return Delivery(
        run_id=run.run_id,
        attempt=run.attempt,
        worker_id=run.worker_id,
        task_name=str(task["name"]),
        executor=str(task["executor"]),
        command=str(task["command"]),
        args=tuple(task.get("args") or ()),
        env=opened.env,
        working_dir=task.get("working_dir"),
        timeout_seconds=int(task.get("timeout_seconds") or 0),
        params=opened.params,
        http=opened.http,
        shard_index=run.shard[0] if run.shard else None,
        shard_total=run.shard[1] if run.shard else None,
        secrets=opened.secrets,
        traceparent=traceparent or run.traceparent,
    )


class Courier:
    """Sends deliveries once their assignment is in the log, and notes when each went out.

    When a run was sent is transport bookkeeping, not log state, so it lives here and not on
    the board. A run this dispatcher never sent (assigned by another one, or before a
    restart) counts as sent at 0.
    """

    def __init__(
        self,
        bus: Bus,
        monotonic: Callable[[], float],
        unusable: Callable[[OpenRun, Exception], None],
        opener: Opener,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._bus = bus
        self._opener = opener
        self._tracer = tracer
        self._monotonic = monotonic
        self._unusable = unusable  # a run whose definition makes no delivery: held
        self._sent_at: dict[UUID, float] = {}

    def deliver(self, runs: Iterable[OpenRun]) -> None:
        """Send the deliveries of the runs' current attempts to their workers, in one batch."""
        sent: list[OpenRun] = []
        deliveries: list[Delivery] = []
        spans: list[Span] = []  # the decision of each run, in its trace (with tracing on)
        for run in runs:
            span = self._decision_span(run) if self._tracer.enabled else None
            try:
                traceparent = span.traceparent if span is not None else None
                deliveries.append(delivery_for(run, self._opener, traceparent))
                sent.append(run)
            except Exception as error:  # its definition cannot make a delivery: hold the run
                self._unusable(run, error)
                if span is not None:
                    span.fail(type(error).__name__)
            if span is not None:
                spans.append(span)
        try:
            self._send(deliveries, sent)
        finally:
            for span in spans:
                span.end()

    def _send(self, deliveries: list[Delivery], sent: list[OpenRun]) -> None:
        if not deliveries:
            return
        # Noted before sending, as one send failing should wait the republish delay, not
        # make the whole batch due again at once.
        sent_at = self._monotonic()
        for delivery in deliveries:
            self._sent_at[delivery.run_id] = sent_at
        # One round trip for the batch: one XADD each on the dispatcher thread was its cost.
        self._bus.publish_inbox_messages(deliveries)
        if logger.isEnabledFor(logging.INFO):
            for run in sent:
                with log_context(
                    run_id=run.run_id,
                    attempt=run.attempt,
                    task_id=run.task_id,
                    worker_id=run.worker_id,
                ):
                    logger.info("run delivered to its worker", extra={"action": "delivered"})

    def _decision_span(self, run: OpenRun) -> Span:
        return self._tracer.start(
            "dispatcher.assign",
            run.traceparent,
            {
                "scheduler.run_id": str(run.run_id),
                "scheduler.attempt": run.attempt,
                "scheduler.worker_id": str(run.worker_id),
                "scheduler.task_name": str(run.task.get("name")),
            },
        )

    def last_sent(self, run_id: UUID) -> float:
        """When the run's delivery was last sent (monotonic seconds), 0.0 if never."""
        return self._sent_at.get(run_id, 0.0)

    def keep_only(self, open_run_ids: Container[UUID]) -> None:
        """Forget closed runs, so what is remembered does not grow with history."""
        for run_id in [r for r in self._sent_at if r not in open_run_ids]:
            del self._sent_at[run_id]
