"""The dispatcher: follows the log, assigns pending runs to live workers, records reports."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from application.bus import Bus
from application.liveness import LivenessStore
from application.messages import Delivery, Report
from application.ports import Clock, Wakeup
from application.scheduler_app import SchedulerApp
from domain.task_run import ReportOutcome, TaskRun
from domain.task_spec import PRIORITY_RANK
from domain.worker import Worker

logger = logging.getLogger(__name__)


class DispatchObserver(Protocol):
    """Receives what the dispatcher measures (metrics live in adapters)."""

    def run_finished(self, status: str, duration_seconds: float) -> None: ...

    def run_dispatched(self, latency_seconds: float) -> None: ...

    def stale_report(self) -> None: ...


class NullObserver:
    """Measures nothing."""

    def run_finished(self, status: str, duration_seconds: float) -> None:
        """Ignore."""

    def run_dispatched(self, latency_seconds: float) -> None:
        """Ignore."""

    def stale_report(self) -> None:
        """Ignore."""


@dataclass
class OpenRun:
    """A run the dispatcher still has to act on: pending, or out on a worker."""

    run_id: UUID
    position: int
    priority_rank: int
    task: dict[str, Any]
    params: dict[str, str]
    requested_at: Any
    worker_id: UUID | None = None
    attempt: int = 0
    started: bool = False

    def sort_key(self) -> tuple[int, int]:
        """Highest priority first, then first come first served."""
        return (-self.priority_rank, self.position)


@dataclass
class WorkerSlot:
    """What the dispatcher knows of a worker: capabilities and the runs it holds."""

    worker_id: UUID
    name: str
    executors: frozenset[str]
    queues: frozenset[str]
    labels: dict[str, str]
    capacity: int
    running: set[UUID] = field(default_factory=set)

    def accepts(self, task: dict[str, Any]) -> bool:
        """Whether this worker can run the task at all."""
        labels = task.get("labels") or {}
        return (
            task.get("executor") in self.executors
            and task.get("queue", "default") in self.queues
            and all(self.labels.get(k) == v for k, v in labels.items())
        )

    @property
    def free(self) -> int:
        """How many more runs it can take now."""
        return self.capacity - len(self.running)


class Dispatcher:
    """Turns the log into decisions; every decision is saved as an event, in batches."""

    def __init__(
        self,
        app: SchedulerApp,
        bus: Bus,
        liveness: LivenessStore,
        clock: Clock,
        wakeup: Wakeup,
        *,
        name: str = "dispatcher",
        lease_seconds: float = 15.0,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        observer: DispatchObserver | None = None,
    ) -> None:
        self._app = app
        self._bus = bus
        self._liveness = liveness
        self._clock = clock
        self._wakeup = wakeup
        self._actor = name
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = batch_size
        self._poll = poll_interval
        self._observer = observer or NullObserver()
        self.position = 0
        self.open_runs: dict[UUID, OpenRun] = {}
        self.workers: dict[UUID, WorkerSlot] = {}

    # Following the log

    def follow_log(self) -> int:
        """Apply new events to the in-memory picture; returns how many were read."""
        total = 0
        while batch := self._app.read_log(self.position, 1_000):
            for position, event in batch:
                self._apply(position, event)
            self.position = batch[-1][0]
            total += len(batch)
        return total

    def _apply(self, position: int, event: Any) -> None:
        run_id = event.originator_id
        if isinstance(event, TaskRun.Requested):
            self.open_runs[run_id] = OpenRun(
                run_id=run_id,
                position=position,
                priority_rank=PRIORITY_RANK.get(event.task.get("priority", "normal"), 1),
                task=event.task,
                params=event.params,
                requested_at=event.timestamp,
            )
        elif isinstance(event, TaskRun.Assigned):
            run = self.open_runs.get(run_id)
            if run is not None:
                self._release(run)
                run.worker_id, run.attempt, run.started = event.worker_id, event.attempt, False
                slot = self.workers.get(event.worker_id)
                if slot is not None:
                    slot.running.add(run_id)
        elif isinstance(event, TaskRun.Started):
            run = self.open_runs.get(run_id)
            if run is not None:
                run.started = True
                self._observer.run_dispatched((event.timestamp - run.requested_at).total_seconds())
        elif isinstance(event, TaskRun.Succeeded | TaskRun.Failed):
            run = self.open_runs.pop(run_id, None)
            if run is not None:
                self._release(run)
        elif isinstance(event, Worker.Registered):
            self.workers[run_id] = WorkerSlot(
                worker_id=run_id,
                name=event.name,
                executors=frozenset(event.executors),
                queues=frozenset(event.queues),
                labels=dict(event.labels),
                capacity=event.max_concurrent_tasks,
            )
        elif isinstance(event, Worker.Deregistered):
            self.workers.pop(run_id, None)

    def _release(self, run: OpenRun) -> None:
        if run.worker_id is not None and run.worker_id in self.workers:
            self.workers[run.worker_id].running.discard(run.run_id)

    # Acting

    def record_reports(self) -> int:
        """Record a batch of worker reports in one save; returns how many were handled."""
        reports = self._bus.receive_reports(self._batch, timeout=0)
        if not reports:
            return 0
        for report, outcome in self._app.record_reports(reports, self._clock.now()):
            self._observe(report, outcome)
        return len(reports)

    def _observe(self, report: Report, outcome: ReportOutcome) -> None:
        if outcome is ReportOutcome.STALE:
            self._observer.stale_report()
        elif outcome is ReportOutcome.APPLIED and report.kind != "started":
            self._observer.run_finished(report.kind, report.duration_seconds)

    def assign_pending(self) -> int:
        """Assign pending runs, highest priority first, to the least loaded eligible workers."""
        live = self._live_workers()
        if not live:
            return 0
        wanted: list[tuple[UUID, UUID]] = []
        pending = sorted(
            (r for r in self.open_runs.values() if r.worker_id is None), key=OpenRun.sort_key
        )
        for run in pending:
            if len(wanted) >= self._batch or not any(w.free > 0 for w in live):
                break
            slot = self._least_loaded(live, run)
            if slot is None:
                continue
            slot.running.add(run.run_id)  # reserve now so this batch does not overfill it
            wanted.append((run.run_id, slot.worker_id))
        if not wanted:
            return 0
        assignments = self._app.assign_runs(wanted, self._actor, self._clock.now())
        assigned = {a.run_id for a in assignments}
        for run_id, worker_id in wanted:
            if run_id not in assigned and worker_id in self.workers:
                self.workers[worker_id].running.discard(run_id)
        for assignment in assignments:
            run = self.open_runs[assignment.run_id]
            run.worker_id, run.attempt = assignment.worker_id, assignment.attempt
            self._publish(run)
        return len(assignments)

    def republish_unstarted(self) -> int:
        """Outbox healing: deliver again every assigned run whose start was never reported."""
        count = 0
        for run in self.open_runs.values():
            if run.worker_id is not None and not run.started:
                self._publish(run)
                count += 1
        return count

    def _publish(self, run: OpenRun) -> None:
        assert run.worker_id is not None
        task = run.task
        self._bus.publish_delivery(
            Delivery(
                run_id=run.run_id,
                attempt=run.attempt,
                worker_id=run.worker_id,
                task_name=str(task["name"]),
                executor=str(task["executor"]),
                command=str(task["command"]),
                args=tuple(task.get("args") or ()),
                env=dict(task.get("env") or {}),
                working_dir=task.get("working_dir"),
                timeout_seconds=int(task.get("timeout_seconds") or 0),
                params=dict(run.params),
            )
        )

    def _live_workers(self) -> list[WorkerSlot]:
        now = self._clock.now()
        live = []
        for slot in self.workers.values():
            seen = self._liveness.last_seen(slot.worker_id)
            if seen is not None and now - seen <= self._lease:
                live.append(slot)
        return live

    @staticmethod
    def _least_loaded(live: list[WorkerSlot], run: OpenRun) -> WorkerSlot | None:
        eligible = [w for w in live if w.free > 0 and w.accepts(run.task)]
        if not eligible:
            return None
        return min(eligible, key=lambda w: (len(w.running) / w.capacity, w.name, str(w.worker_id)))

    # Running

    def step(self) -> int:
        """One round: catch up, record reports, catch up, assign. Returns work done."""
        done = self.follow_log()
        done += self.record_reports()
        done += self.follow_log()
        done += self.assign_pending()
        return done

    def run_forever(self, stop: threading.Event) -> None:
        """Dispatch until stopped, woken by saves and reports, with a timer as fallback."""
        self.follow_log()
        self.republish_unstarted()
        while not stop.is_set():
            generation = self._wakeup.generation()
            try:
                busy = self.step()
            except Exception:  # a failed round is retried; the log keeps the truth
                logger.exception("dispatch round failed")
                stop.wait(self._poll)
                continue
            if not busy:
                self._wakeup.wait(generation, self._poll)
        # Record what workers reported while we were stopping, so no outcome is dropped.
        while self.record_reports():
            pass
