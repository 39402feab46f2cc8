"""The dispatcher: follows the log, assigns runs, records reports, recovers what is lost."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from application.bus import Bus, Received
from application.circuit_breaker import CircuitBreaker, CircuitOpenError
from application.cron_firing import CronBook
from application.dependencies import FINAL_STATUS, DependencyBook
from application.liveness import LivenessStore
from application.messages import Control, Delivery, Report
from application.ports import Clock, Wakeup
from application.quarantine import (
    RELEASE,
    RETRY,
    AggregateLog,
    GuardedConsumer,
    InMemoryQuarantineLedger,
    QuarantineLedger,
    describe,
)
from application.routing import RoundRobin, choose_worker
from application.run_definition import check_definition
from application.scheduler_app import SchedulerApp
from domain.context import CommandContext
from domain.task_run import ReportOutcome, TaskRun
from domain.task_spec import PRIORITY_RANK
from domain.worker import Worker

logger = logging.getLogger(__name__)

FINISHED_REMEMBERED = 50_000  # finished runs kept to fence workers still running them
QUEUED_REASON = "concurrency: waiting for the previous run of this task to end (policy queue)"
BOARD, CRON, DEPENDENCIES = "dispatcher:board", "dispatcher:cron", "dispatcher:dependencies"
SCHEDULES = "dispatcher:schedules"  # tasks whose timing cannot be evaluated (not held events)
BEAT_EVERY_SECONDS = 1.0  # how often the dispatcher says it is alive, whatever it does
REQUESTED_TOPIC = "scheduler:TaskRun.Requested"


class DispatcherBeacon(Protocol):
    """Where a dispatcher says it is alive and how its rounds go (for /health everywhere)."""

    def beat(
        self,
        name: str,
        started_at: datetime,
        at: datetime,
        *,
        position: int,
        round_at: datetime | None,
        failed_rounds: int,
        error: str | None,
    ) -> None: ...

    def stopped(self, name: str, at: datetime) -> None: ...


class NullBeacon:
    """Tells no one."""

    def beat(
        self,
        name: str,
        started_at: datetime,
        at: datetime,
        *,
        position: int,
        round_at: datetime | None,
        failed_rounds: int,
        error: str | None,
    ) -> None:
        """Ignore."""

    def stopped(self, name: str, at: datetime) -> None:
        """Ignore."""


class DispatchObserver(Protocol):
    """Receives what the dispatcher measures (metrics live in adapters)."""

    def run_finished(self, status: str, duration_seconds: float) -> None: ...

    def run_dispatched(self, latency_seconds: float) -> None: ...

    def stale_report(self) -> None: ...

    def duplicate_report(self) -> None: ...

    def recovered(self, count: int) -> None: ...


class NullObserver:
    """Measures nothing."""

    def run_finished(self, status: str, duration_seconds: float) -> None:
        """Ignore."""

    def run_dispatched(self, latency_seconds: float) -> None:
        """Ignore."""

    def stale_report(self) -> None:
        """Ignore."""

    def duplicate_report(self) -> None:
        """Ignore."""

    def recovered(self, count: int) -> None:
        """Ignore."""


@dataclass(frozen=True)
class DispatchPolicy:
    """The dispatcher's knobs, all in seconds except counts."""

    lease_seconds: float = 15.0
    deadline_grace_seconds: float = 30.0
    republish_after_seconds: float = 10.0
    max_recoveries: int = 3
    batch_size: int = 200
    poll_interval: float = 1.0
    maintenance_interval: float = 1.0


@dataclass
class OpenRun:
    """A run the dispatcher still has to act on: pending, or out on a worker."""

    run_id: UUID
    task_id: UUID
    position: int
    priority_rank: int
    task: dict[str, Any]
    params: dict[str, Any]  # as stored: secret ones sealed
    requested_at: datetime
    trigger: str = "manual"
    wait_code: str | None = None  # the last recorded reason it is not going out
    worker_id: UUID | None = None
    attempt: int = 0
    started_at: datetime | None = None
    published_at: float = 0.0  # monotonic time of the last delivery of this attempt
    retry_at: datetime | None = None  # a failed attempt waits until then
    parent_run_id: UUID | None = None  # set on a shard of a broadcast run
    target_worker_id: UUID | None = None  # the worker a shard was meant for
    shard: tuple[int, int] | None = None  # (index, total) of a shard
    fanned_out: bool = False  # a broadcast run whose shards do the work

    def sort_key(self) -> tuple[int, int]:
        """Highest priority first, then first come first served."""
        return (-self.priority_rank, self.position)


@dataclass
class WorkerSlot:
    """What the dispatcher knows of a worker: capabilities, status and the runs it holds."""

    worker_id: UUID
    name: str
    executors: frozenset[str]
    queues: frozenset[str]
    labels: dict[str, str]
    capacity: int
    status: str = "active"
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

    @property
    def load(self) -> float:
        """The share of its capacity in use."""
        return len(self.running) / self.capacity


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
        policy: DispatchPolicy | None = None,
        observer: DispatchObserver | None = None,
        monotonic: Any = time.monotonic,
        breaker: CircuitBreaker | None = None,
        draw: Callable[[], float] = random.random,
        quarantine: QuarantineLedger | None = None,
        aggregate_log: AggregateLog | None = None,
        beacon: DispatcherBeacon | None = None,
    ) -> None:
        self._app = app
        self._bus = bus
        self._liveness = liveness
        self._clock = clock
        self._wakeup = wakeup
        self.name = name
        self.policy = policy or DispatchPolicy()
        self._observer = observer or NullObserver()
        self._monotonic = monotonic
        self.breaker = breaker or CircuitBreaker("dispatcher:database")
        self.position = 0
        self.open_runs: dict[UUID, OpenRun] = {}
        self.workers: dict[UUID, WorkerSlot] = {}
        self.quarantine = quarantine or InMemoryQuarantineLedger()
        self._beacon = beacon or NullBeacon()
        self.cron = CronBook(on_blocked=self._cron_blocked, on_unblocked=self._cron_unblocked)
        self.deps = DependencyBook()
        # Each in-memory book applies the log through its own guard: an event one of them
        # cannot handle holds that aggregate in that book alone (docs/operations.md).
        self.guards = [
            GuardedConsumer(BOARD, self._apply, self.quarantine, clock.now, aggregate_log),
            GuardedConsumer(
                CRON, lambda p, e: self.cron.apply(e, p), self.quarantine, clock.now, aggregate_log
            ),
            GuardedConsumer(
                DEPENDENCIES,
                lambda _p, e: self.deps.apply(e),
                self.quarantine,
                clock.now,
                aggregate_log,
            ),
        ]
        self.board_guard = self.guards[0]
        self._round_failures = 0
        self._last_error: str | None = None
        self._last_round_at: datetime | None = None
        self._last_beat = -BEAT_EVERY_SECONDS
        self.broadcasts: dict[UUID, dict[UUID, str | None]] = {}  # run -> shard -> final status
        self._round_robin = RoundRobin()
        self._draw = draw
        self._started_at = clock.now()
        self._last_maintenance = 0.0
        self.finished_attempts: OrderedDict[UUID, int] = OrderedDict()
        self._pumped: queue.Queue[Received[Report]] | None = None
        self.live = False  # True once the start-up replay is done: decisions then notify workers

    # Following the log

    def follow_log(self) -> int:
        """Apply new events to the in-memory picture; returns how many were read."""
        total = 0
        while batch := self._app.read_log(self.position, 1_000):
            for position, event in batch:
                for guard in self.guards:
                    guard.apply(position, event)
            self.position = batch[-1][0]
            total += len(batch)
        if total:
            for guard in self.guards:
                guard.flush()
        return total

    def _apply(self, position: int, event: Any) -> None:
        key = event.originator_id
        if isinstance(event, TaskRun.Requested):
            check_definition(event.task)  # a run the run path could not read is held here
            self.open_runs[key] = OpenRun(
                run_id=key,
                task_id=event.task_id,
                position=position,
                priority_rank=PRIORITY_RANK.get(event.task.get("priority", "normal"), 1),
                task=event.task,
                params=event.params,
                requested_at=event.timestamp,
                trigger=event.trigger,
            )
            if isinstance(event, TaskRun.ShardRequested):
                self.open_runs[key].parent_run_id = event.parent_run_id
                self.open_runs[key].target_worker_id = event.target_worker_id
                self.open_runs[key].shard = (event.shard_index, event.shard_total)
        elif isinstance(event, TaskRun.FannedOut):
            if run := self.open_runs.get(key):
                run.fanned_out = True
                self.broadcasts[key] = dict.fromkeys(event.shard_run_ids)
        elif isinstance(event, TaskRun.Waiting):
            if run := self.open_runs.get(key):
                run.wait_code = event.code
        elif isinstance(event, TaskRun.Assigned):
            if run := self.open_runs.get(key):
                self._release(run)
                run.worker_id, run.attempt, run.started_at = event.worker_id, event.attempt, None
                run.retry_at, run.wait_code = None, None
                if slot := self.workers.get(event.worker_id):
                    slot.running.add(key)
        elif isinstance(event, TaskRun.Started):
            if run := self.open_runs.get(key):
                run.started_at = event.timestamp
                self._observer.run_dispatched((event.timestamp - run.requested_at).total_seconds())
        elif isinstance(event, TaskRun.RetryScheduled):
            if run := self.open_runs.get(key):
                self._release(run)
                run.worker_id, run.started_at, run.retry_at = None, None, event.retry_at
        elif isinstance(event, TaskRun.Requeued):
            if run := self.open_runs.get(key):
                self._release(run)
                run.worker_id, run.started_at = None, None
        elif isinstance(
            event,
            TaskRun.Succeeded
            | TaskRun.Failed
            | TaskRun.TimedOut
            | TaskRun.Cancelled
            | TaskRun.Skipped
            | TaskRun.UpstreamFailed,
        ):
            self.broadcasts.pop(key, None)
            if run := self.open_runs.pop(key, None):
                self._release(run)
                if run.parent_run_id and (shards := self.broadcasts.get(run.parent_run_id)):
                    shards[key] = FINAL_STATUS[type(event)]
                if self.live and isinstance(event, TaskRun.Cancelled) and run.worker_id is not None:
                    # The worker kills the process group; its report is then a duplicate.
                    self._bus.publish_control(
                        Control("cancel", run.worker_id, run.run_id, run.attempt)
                    )
            self.finished_attempts[key] = getattr(event, "attempt", 0)
            while len(self.finished_attempts) > FINISHED_REMEMBERED:
                self.finished_attempts.popitem(last=False)
        elif isinstance(event, Worker.Registered):
            self.workers[key] = WorkerSlot(
                worker_id=key,
                name=event.name,
                executors=frozenset(event.executors),
                queues=frozenset(event.queues),
                labels=dict(event.labels),
                capacity=event.max_concurrent_tasks,
            )
        elif isinstance(event, Worker.Draining | Worker.Lost | Worker.Deregistered):
            if slot := self.workers.get(key):
                slot.status = {
                    Worker.Draining: "draining",
                    Worker.Lost: "lost",
                    Worker.Deregistered: "gone",
                }[type(event)]
                if self.live and isinstance(event, Worker.Draining):
                    # A drain asked for through the API reaches the worker this way.
                    self._bus.publish_control(Control("drain", key))
                if isinstance(event, Worker.Deregistered):
                    self._bus.drop_inbox(key)

    def _cron_blocked(self, task_id: UUID, position: int, reason: str) -> None:
        self.quarantine.record(
            SCHEDULES, str(task_id), "Task", position, "scheduler:Task", reason, self._clock.now()
        )
        logger.warning("task %s cannot be scheduled: %s", task_id, reason)

    def _cron_unblocked(self, task_id: UUID, note: str) -> None:
        self.quarantine.resolve(SCHEDULES, str(task_id), self._clock.now(), note)

    def _hold_run(self, run: OpenRun, error: Exception) -> None:
        """Take a run off the board that the decisions cannot handle; its aggregate is held."""
        self._release(run)
        self.open_runs.pop(run.run_id, None)
        self.board_guard.hold(str(run.run_id), run.position, REQUESTED_TOPIC, describe(error))
        logger.warning("run %s quarantined: %s", run.run_id, describe(error))

    def _release(self, run: OpenRun) -> None:
        if run.worker_id is not None and (slot := self.workers.get(run.worker_id)):
            slot.running.discard(run.run_id)

    # Reports from workers

    def record_reports(self) -> int:
        """Record a batch of reports in one save, acknowledge them, confirm to workers."""
        received = self._take_reports()
        if not received:
            return 0
        reports = [r.message for r in received]
        now = self._clock.now()
        for report in reports:
            if report.run_id is None:
                self._record_membership(report, now)
        try:
            recorded = self._app.record_reports(reports, now)
        except Exception:
            self._give_back(received)
            raise
        for report, outcome in recorded:
            self._observe(report, outcome)
            if report.is_final and report.run_id is not None:
                self._bus.publish_control(
                    Control("recorded", report.worker_id, report.run_id, report.attempt)
                )
        self._bus.ack_reports([r.token for r in received])
        return len(received)

    def _take_reports(self) -> list[Received[Report]]:
        if self._pumped is None:
            return self._bus.receive_reports(self.name, self.policy.batch_size, timeout=0)
        taken: list[Received[Report]] = []
        while len(taken) < self.policy.batch_size:
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

    def _pump_reports(self, stop: threading.Event) -> None:
        # Blocks on the bus so that a report wakes the dispatcher at once, whatever the bus.
        assert self._pumped is not None
        while not stop.is_set():
            try:
                received = self._bus.receive_reports(self.name, self.policy.batch_size, timeout=1.0)
            except Exception:  # the bus is down: back off, the work waits in the bus
                logger.warning("cannot receive reports; retrying", exc_info=True)
                stop.wait(1.0)
                continue
            for item in received:
                self._pumped.put(item)
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
        if outcome is ReportOutcome.STALE:
            self._observer.stale_report()
        elif outcome is ReportOutcome.DUPLICATE:
            self._observer.duplicate_report()
        elif outcome is ReportOutcome.APPLIED and report.is_final:
            self._observer.run_finished(report.kind, report.duration_seconds)

    # Assignment

    def assign_pending(self) -> int:
        """Assign pending runs, highest priority first, to eligible workers by strategy.

        A run held back for a reason other than a busy pool (dependency, overlap queue, no
        eligible worker) gets that reason recorded once, so "why is it not running?" is a query.
        """
        live = [w for w in self._live_workers() if w.status == "active"]
        wanted: list[tuple[UUID, UUID]] = []
        notes: list[tuple[UUID, str, str]] = []
        now = self._clock.now()
        pending = sorted(
            (
                r
                for r in self.open_runs.values()
                if r.worker_id is None
                and not r.fanned_out
                and (r.retry_at is None or r.retry_at <= now)
            ),
            key=OpenRun.sort_key,
        )
        busy_tasks = {
            r.task_id for r in self.open_runs.values() if r.worker_id is not None or r.fanned_out
        }
        skip, replace = [], []
        fanouts: list[tuple[UUID, list[UUID]]] = []
        for run in pending:
            try:
                self._plan_one(run, live, now, wanted, notes, skip, replace, fanouts, busy_tasks)
            except Exception as error:  # one run the decisions cannot read: hold it alone
                self._hold_run(run, error)
        if skip or replace:
            self._app.decide_overlaps(
                skip,
                replace,
                "skipped: the previous run of this task is still running (concurrency_policy)",
                "cancelled: replaced by a newer run (concurrency_policy replace)",
                self.name,
                now,
            )
        if fanouts:
            self._app.fan_out_runs(fanouts, self.name, now)
        fresh = [
            n for n in notes if n[0] in self.open_runs and self.open_runs[n[0]].wait_code != n[1]
        ]
        if fresh:
            self._app.note_waiting(fresh[: self.policy.batch_size], self.name, now)
        if not wanted:
            return 0
        assignments = self._app.assign_runs(wanted, self.name, self._clock.now())
        assigned = {a.run_id for a in assignments}
        for run_id, worker_id in wanted:
            if run_id not in assigned and (slot := self.workers.get(worker_id)):
                slot.running.discard(run_id)
        for assignment in assignments:
            run = self.open_runs[assignment.run_id]
            run.worker_id, run.attempt = assignment.worker_id, assignment.attempt
            self._publish(run)
        return len(assignments)

    def _plan_one(
        self,
        run: OpenRun,
        live: list[WorkerSlot],
        now: datetime,
        wanted: list[tuple[UUID, UUID]],
        notes: list[tuple[UUID, str, str]],
        skip: list[UUID],
        replace: list[UUID],
        fanouts: list[tuple[UUID, list[UUID]]],
        busy_tasks: set[UUID],
    ) -> None:
        """Decide one pending run: assign (reserving a slot), note why it waits, or skip."""
        if run.parent_run_id is not None:
            # A shard: its broadcast run already passed the overlap policy.
            if len(wanted) < self.policy.batch_size and (slot := self._shard_worker(run, live)):
                slot.running.add(run.run_id)
                wanted.append((run.run_id, slot.worker_id))
            return
        if run.trigger == "dependency" and (waiting_for := self.deps.blocking(run.run_id)):
            names = ", ".join(repr(n) for n in waiting_for)
            notes.append((run.run_id, "dependency", f"dependency: waiting for {names}"))
            return
        policy = run.task.get("concurrency_policy") or "allow"
        if run.task_id in busy_tasks and policy != "allow":
            if policy == "skip":
                skip.append(run.run_id)
                return
            if policy == "queue":
                notes.append((run.run_id, "concurrency", QUEUED_REASON))
                return
            if policy == "replace":
                replace += [
                    r.run_id
                    for r in self.open_runs.values()
                    if r.task_id == run.task_id and r.worker_id is not None
                ]
        eligible = [w for w in live if w.accepts(run.task)]
        if not eligible:
            notes.append((run.run_id, "no_eligible_worker", _no_eligible_reason(run.task)))
            return
        strategy = str(run.task.get("routing_strategy") or "least_loaded")
        if strategy == "broadcast":
            ordered = sorted(eligible, key=lambda w: (w.name, str(w.worker_id)))
            fanouts.append((run.run_id, [w.worker_id for w in ordered]))
            busy_tasks.add(run.task_id)
            return
        if len(wanted) >= self.policy.batch_size or not any(w.free > 0 for w in eligible):
            return  # waits for a free slot: no event, or a busy pool would flood the log
        slot = choose_worker(strategy, run.task_id, eligible, self._round_robin, self._draw)
        if slot is None:
            return  # every eligible worker is full: waits without a new event
        slot.running.add(run.run_id)  # reserve now so this batch does not overfill it
        wanted.append((run.run_id, slot.worker_id))
        busy_tasks.add(run.task_id)

    def _shard_worker(self, run: OpenRun, live: list[WorkerSlot]) -> WorkerSlot | None:
        # A shard waits for its own worker while that worker is live; if it is gone, any
        # eligible worker takes the shard (the data partition still needs processing).
        target = next((w for w in live if w.worker_id == run.target_worker_id), None)
        if target is not None:
            return target if target.free > 0 else None
        eligible = [w for w in live if w.accepts(run.task)]
        return choose_worker("least_loaded", run.task_id, eligible, self._round_robin, self._draw)

    def finish_broadcasts(self) -> int:
        """End broadcast runs whose shards have all ended."""
        done = [
            (parent, {k: str(v) for k, v in shards.items()})
            for parent, shards in self.broadcasts.items()
            if all(status is not None for status in shards.values())
        ]
        if not done:
            return 0
        self._app.finish_broadcasts(done, self.name, self._clock.now())
        self.follow_log()
        return len(done)

    def decide_dependencies(self) -> int:
        """Request, hold or fail downstream runs of upstream runs that finished."""
        finished, decisions = self.deps.decisions()
        if not decisions:
            return 0
        try:
            for start in range(0, len(decisions), self.policy.batch_size):
                chunk = decisions[start : start + self.policy.batch_size]
                self._app.decide_dependencies(chunk, self.name, self._clock.now())
        except Exception:
            self.deps.retry(finished)
            raise
        self.follow_log()
        return len(decisions)

    def _publish(self, run: OpenRun) -> None:
        try:
            delivery = self._delivery(run)
        except Exception as error:  # its definition cannot make a delivery: hold the run
            self._hold_run(run, error)
            return
        run.published_at = self._monotonic()
        self._bus.publish_delivery(delivery)

    def _delivery(self, run: OpenRun) -> Delivery:
        assert run.worker_id is not None
        task = run.task
        # Secrets: the one place sealed values are opened, for the worker that runs the task
        # (docs/security.md#secrets). One that cannot be opened holds the run (_publish).
        opened = self._app.opener.run(run.task_id, task, run.params)
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
        )

    def _live_workers(self) -> list[WorkerSlot]:
        return [w for w in self.workers.values() if not self._lease_expired(w)]

    def _lease_expired(self, slot: WorkerSlot) -> bool:
        # Before this dispatcher has heard anything, its own start is the last sign of life.
        seen = self._liveness.last_seen(slot.worker_id) or self._started_at
        seen = max(seen, self._started_at)
        return self._clock.now() - seen > timedelta(seconds=self.policy.lease_seconds)

    # Maintenance: outbox healing, recovery, deadlines, fencing of lost workers

    def maintain(self) -> int:
        """Republish, recover lost workers' runs and enforce deadlines; returns actions taken."""
        return (
            self.republish_unstarted()
            + self.recover_lost_workers()
            + self.enforce_deadlines()
            + self.fence_heartbeats()
            + self.handle_quarantine_requests()
        )

    def handle_quarantine_requests(self) -> int:
        """Retry or release what operators asked for (held aggregates, blocked schedules)."""
        actions = sum(guard.handle_requests() for guard in self.guards)
        blocked = self.cron.blocked()
        if not blocked:
            return actions
        ids = [str(task_id) for task_id in blocked]
        for entry in self.quarantine.entries(SCHEDULES, statuses=None, aggregate_ids=ids):
            task_id = UUID(entry.aggregate_id)
            if entry.request == RETRY:
                reason = self.cron.retry(task_id)
                if reason is not None:  # still unreadable: say so again
                    self.quarantine.record(
                        SCHEDULES,
                        entry.aggregate_id,
                        "Task",
                        entry.position,
                        entry.topic,
                        reason,
                        self._clock.now(),
                    )
                actions += 1
            elif entry.request == RELEASE:
                # Released: the task stays out of the cron book until its timing changes.
                self.cron.tasks.pop(task_id, None)
                self.quarantine.release(
                    SCHEDULES,
                    entry.aggregate_id,
                    entry.requested_through or self.position,
                    self._clock.now(),
                )
                actions += 1
        return actions

    def fire_due_slots(self) -> int:
        """Request runs for due cron slots (deterministic ids) and record misfires."""
        fires, misfires = self.cron.due(self._clock.now())
        if not fires and not misfires:
            return 0
        for start in range(0, max(len(fires), 1), self.policy.batch_size):
            batch = fires[start : start + self.policy.batch_size]
            self._app.fire_cron(batch, misfires if start == 0 else [], self.name, self._clock.now())
            # Send each saved batch out before firing the next: with a thousand slots due at
            # once, the first runs start while the last are still being saved.
            self.follow_log()  # also moves the anchors before the next round looks again
            if self.live:
                self.assign_pending()
        return len(fires) + len(misfires)

    def republish_unstarted(self, force: bool = False) -> int:
        """Deliver again every assignment whose start was not reported in time (outbox)."""
        count = 0
        now = self._monotonic()
        for run in self.open_runs.values():
            if run.worker_id is None or run.started_at is not None:
                continue
            slot = self.workers.get(run.worker_id)
            if slot is None or slot.status in ("lost", "gone"):
                continue
            if force or now - run.published_at >= self.policy.republish_after_seconds:
                self._publish(run)
                count += 1
        return count

    def recover_lost_workers(self) -> int:
        """Record workers whose lease expired as lost; requeue runs held by lost or gone ones."""
        lost: list[tuple[UUID, list[UUID]]] = []
        for slot in self.workers.values():
            held = [r for r in slot.running if r in self.open_runs]
            expired = slot.status in ("active", "draining") and self._lease_expired(slot)
            if expired or (slot.status in ("lost", "gone") and held):
                lost.append((slot.worker_id, held))
        if not lost:
            return 0
        requeued = self._app.recover_workers(
            lost, self.policy.max_recoveries, self.name, self._clock.now()
        )
        for worker_id, _ in lost:
            self._bus.drop_inbox(worker_id)
        if requeued:
            self._observer.recovered(len(requeued))
            logger.warning("requeued %d runs of lost workers", len(requeued))
        return len(lost)

    def enforce_deadlines(self) -> int:
        """Time out runs that overran timeout + grace, even if their worker went silent."""
        now = self._clock.now()
        overdue: list[OpenRun] = []
        for run in self.open_runs.values():
            timeout = int(run.task.get("timeout_seconds") or 0)
            if run.started_at is None or timeout <= 0:
                continue
            deadline = run.started_at + timedelta(
                seconds=timeout + self.policy.deadline_grace_seconds
            )
            if now > deadline:
                overdue.append(run)
        if not overdue:
            return 0
        error = "deadline exceeded: no result within timeout_seconds + grace"
        self._app.time_out_runs([r.run_id for r in overdue], error, self.name, now)
        for run in overdue:
            if run.worker_id is not None:
                self._bus.publish_control(Control("cancel", run.worker_id, run.run_id, run.attempt))
        return len(overdue)

    def fence_heartbeats(self) -> int:
        """Tell workers to kill attempts the log superseded, and lost workers to rejoin."""
        controls = 0
        recent = self._clock.now() - timedelta(seconds=self.policy.maintenance_interval * 5)
        for worker_id, lease in self._liveness.snapshot().items():
            slot = self.workers.get(worker_id)
            if slot is None or lease.at < recent:
                continue
            if slot.status in ("lost", "gone"):
                self._bus.publish_control(Control("rejoin", worker_id))
                controls += 1
            for run_id, attempt in lease.running:
                if self._superseded(run_id, attempt):
                    self._bus.publish_control(Control("cancel", worker_id, run_id, attempt))
                    controls += 1
        return controls

    def _superseded(self, run_id: UUID, attempt: int) -> bool:
        # Only what the log proves: a newer attempt exists, or the run already ended.
        # A run this dispatcher has not read yet is never cancelled.
        run = self.open_runs.get(run_id)
        if run is not None:
            return run.attempt > attempt
        return run_id in self.finished_attempts

    # Running

    def beat(self, force: bool = False) -> None:
        """Tell the beacon this dispatcher is alive (at most once a second unless forced)."""
        now = self._monotonic()
        if not force and now - self._last_beat < BEAT_EVERY_SECONDS:
            return
        self._last_beat = now
        try:
            self._beacon.beat(
                self.name,
                self._started_at,
                self._clock.now(),
                position=self.position,
                round_at=self._last_round_at,
                failed_rounds=self._round_failures,
                error=self._last_error,
            )
        except Exception as error:  # the database is down: the beat is missed, nothing else
            logger.debug("dispatcher beat not recorded: %s", error)

    def _round_done(self, error: Exception | None) -> None:
        if error is None:
            self._round_failures, self._last_error = 0, None
            self._last_round_at = self._clock.now()
        else:
            self._round_failures += 1
            self._last_error = describe(error)
        self.beat(force=error is not None and self._round_failures == 1)

    def step(self) -> int:
        """One round: catch up, record reports, catch up, assign, maintain. Returns work done."""
        done = self.follow_log()
        done += self.record_reports()
        done += self.follow_log()
        done += self.finish_broadcasts()
        done += self.decide_dependencies()
        done += self.assign_pending()
        done += self.fire_due_slots()  # every round: a due slot should not wait for maintenance
        now = self._monotonic()
        if now - self._last_maintenance >= self.policy.maintenance_interval:
            self._last_maintenance = now
            done += self.maintain()
        return done

    def _idle_wait(self) -> float:
        # Sleep until the next cron slot is due, at most the poll interval.
        due = self.cron.next_due_at()
        if due is None:
            return self.policy.poll_interval
        until = (due - self._clock.now()).total_seconds()
        return min(self.policy.poll_interval, max(until, 0.001))

    def run_forever(self, stop: threading.Event) -> None:
        """Dispatch until stopped, woken by saves and reports, with a timer as fallback."""
        self._pumped = queue.Queue(maxsize=self.policy.batch_size * 10)
        pump_stop = threading.Event()
        pump = threading.Thread(
            target=self._pump_reports, args=(pump_stop,), name="report-pump", daemon=True
        )
        pump.start()
        self.beat(force=True)
        while not stop.is_set():
            try:
                for guard in self.guards:
                    guard.load()
                self.breaker.call(self.follow_log)
                break
            except Exception:
                logger.warning("cannot read the log yet; retrying", exc_info=True)
                self.beat()
                stop.wait(self.breaker.retry_after() or 0.5)
        self.live = True
        self.republish_unstarted(force=True)
        while not stop.is_set():
            generation = self._wakeup.generation()
            try:
                busy = self.breaker.call(self.step)
            except CircuitOpenError as error:
                self._round_done(error)
                stop.wait(max(error.retry_after, 0.05))
                continue
            except Exception as error:  # a failed round is retried; the log keeps the truth
                logger.warning("dispatch round failed: %s: %s", type(error).__name__, error)
                self._round_done(error)
                stop.wait(self.breaker.retry_after() or 0.2)
                continue
            self._round_done(None)
            if not busy:
                self._wakeup.wait(generation, self._idle_wait())
        # Record what workers reported while we were stopping, so no outcome is dropped.
        pump_stop.set()
        pump.join(5)
        try:
            while self.record_reports():  # what the pump already took
                pass
            self._pumped = None  # then straight from the bus, until it is empty
            while self.record_reports():
                pass
        except Exception:
            logger.exception("final report recording failed; workers will resend")
        try:
            self._beacon.stopped(self.name, self._clock.now())
        except Exception as error:
            logger.debug("dispatcher stop not recorded: %s", error)


def _no_eligible_reason(task: dict[str, Any]) -> str:
    labels = task.get("labels") or {}
    wants = f"executor {task.get('executor')!r}, queue {task.get('queue', 'default')!r}"
    if labels:
        wants += f", labels {labels}"
    return f"no_eligible_worker: no live active worker offers {wants}"
