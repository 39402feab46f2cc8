"""The dispatcher loop: follow the log, record reports, decide, save, publish, maintain."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from application.bus import Bus
from application.circuit_breaker import CircuitBreaker, CircuitOpenError
from application.dispatch.assignment import REPLACED_REASON, plan_assignments
from application.dispatch.board import DropInbox
from application.dispatch.books import SKIPPED_TOPICS, DispatchBooks
from application.dispatch.deliveries import Courier
from application.dispatch.entries import WorkerSlot
from application.dispatch.health import RoundHealth
from application.dispatch.known import serve_known, served
from application.dispatch.liveness import Leases, LivenessStore
from application.dispatch.maintenance import Maintenance
from application.dispatch.policy import (
    DispatcherBeacon,
    DispatchObserver,
    DispatchPolicy,
    NullObserver,
)
from application.dispatch.reports import ReportIntake
from application.dispatch.routing import RoundRobin
from application.ports import Clock, Wakeup
from application.quarantine import AggregateLog, InMemoryQuarantineLedger, QuarantineLedger
from application.results import Assignment

if TYPE_CHECKING:
    from application.commands.app import SchedulerApp

logger = logging.getLogger(__name__)


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
        monotonic: Callable[[], float] = time.monotonic,
        breaker: CircuitBreaker | None = None,
        draw: Callable[[], float] = random.random,
        quarantine: QuarantineLedger | None = None,
        aggregate_log: AggregateLog | None = None,
        beacon: DispatcherBeacon | None = None,
    ) -> None:
        self._app = app
        self._bus = bus
        self._clock = clock
        self._wakeup = wakeup
        self.name = name
        self.policy = policy = policy or DispatchPolicy()
        observer = observer or NullObserver()
        self._monotonic = monotonic
        self.breaker = breaker or CircuitBreaker("dispatcher:database")
        self.quarantine = quarantine or InMemoryQuarantineLedger()
        self.books = DispatchBooks(self.quarantine, clock.now, aggregate_log, observer)
        self.board, self.cron, self.deps = self.books.board, self.books.cron, self.books.deps
        serve_known(app, self.books.known)
        self.leases = Leases(liveness, clock, policy.lease_seconds)
        self.courier = Courier(bus, monotonic, self.books.hold_run, app.opener, app.tracer)
        self.reports = ReportIntake(app, bus, clock, wakeup, observer, name, policy.batch_size)
        parts = (self.books, self.courier, self.leases)
        self.maintenance = Maintenance(app, bus, *parts, clock, monotonic, policy, observer, name)
        self.health = RoundHealth(name, beacon, clock, monotonic, lambda: self.position)
        self._round_robin = RoundRobin()
        self._draw = draw
        self._last_maintenance = 0.0
        self.live = False  # True once the start-up replay is done: decisions then notify workers

    def retune(self, policy: DispatchPolicy) -> None:
        """Take new knobs from the next round on (a reload); the lease length stays."""
        self.policy = policy
        self.reports.batch_size = policy.batch_size
        self.maintenance.policy = policy

    @property
    def position(self) -> int:
        """The newest log position applied."""
        return self.books.position

    # Following the log

    def follow_log(self) -> int:
        """Apply new events to the in-memory books; returns how many were read."""
        return self.books.follow(self._read_page, self._send_notices)

    def _read_page(self, after: int, limit: int) -> tuple[list[tuple[int, Any]], int, int]:
        return self._app.read_log_except(after, limit, SKIPPED_TOPICS)

    def _send_notices(self) -> None:
        # Controls are for decisions read live; a worker's inbox goes whenever it left.
        notices = self.board.notices
        while notices:
            notice = notices[0]
            if isinstance(notice, DropInbox):
                self._bus.drop_inbox(notice.worker_id)
            elif self.live:
                self._bus.publish_control(notice)
            notices.popleft()  # only once sent: a bus failure leaves it for the next round

    # Decisions

    @served
    def record_reports(self) -> int:
        """Record a batch of worker reports; returns how many were taken."""
        return self.reports.record()

    @served
    def assign_pending(self) -> int:
        """Plan this round, save its decisions in batches, then deliver what the log assigned."""
        now = self._clock.now()
        parts = (self.policy, self._round_robin, self._draw, self.deps.blocking)
        plan = plan_assignments(self.board, self._live_workers(), now, *parts)
        for run, error in plan.unreadable:
            self.books.hold_run(run, error)
        if plan.skip or plan.replace:
            self._app.decide_overlaps(
                plan.skip, plan.replace, plan.skip_reasons, REPLACED_REASON, self.name, now
            )
        if plan.fanouts:
            self._app.fan_out_runs(plan.fanouts, self.name, now)
        if plan.notes:
            self._app.note_waiting(plan.notes, self.name, now)
        if not plan.wanted:
            return 0
        assignments = self._app.assign_runs(plan.wanted, self.name, self._clock.now())
        self._deliver(assignments)
        return len(assignments)

    def _deliver(self, assignments: list[Assignment]) -> None:
        if not assignments:
            return
        self.follow_log()  # the assignments reach the board here, once, from the log
        current = []  # only runs the log still has on the assigned worker and attempt
        for assignment in assignments:
            run = self.board.open_runs.get(assignment.run_id)
            wanted = (assignment.worker_id, assignment.attempt)
            if run is not None and (run.worker_id, run.attempt) == wanted:
                current.append(run)
        self.courier.deliver(current)

    @served
    def finish_broadcasts(self) -> int:
        """End broadcast runs whose shards have all ended."""
        done = self.board.finished_broadcasts()
        if not done:
            return 0
        self._app.finish_broadcasts(done, self.name, self._clock.now())
        self.follow_log()
        return len(done)

    @served
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

    @served
    def pause_failing_tasks(self) -> int:
        """Pause tasks whose runs failed their `pause_after_failures` times in a row."""
        with self.books.failures.deciding() as pauses:
            if pauses:
                self._app.pause_failing_tasks(pauses, self.name, self._clock.now())
                self.follow_log()
        return len(pauses)

    @served
    def fire_due_slots(self) -> int:
        """Request runs for due cron slots (deterministic ids) and record misfires."""
        fires, misfires = self.cron.due(self._clock.now())
        if not fires and not misfires:
            return 0
        size = self.policy.fire_batch_size
        for start in range(0, max(len(fires), 1), size):
            batch = fires[start : start + size]
            self._app.fire_cron(batch, misfires if start == 0 else [], self.name, self._clock.now())
            # Send each saved batch out before firing the next: with more slots due at once
            # than a save takes, the first runs start while the last are still being saved.
            self.follow_log()  # also moves the anchors before the next round looks again
            if self.live:
                self.assign_pending()
        return len(fires) + len(misfires)

    @served
    def advance_backfills(self) -> int:
        """Record backfill runs that ended and release their next slots up to each limit."""
        decide = partial(self._app.advance_backfills, actor=self.name, now=self._clock.now())
        if done := self.books.backfills.advance(decide):
            self.follow_log()
        return done

    def _live_workers(self) -> list[WorkerSlot]:
        return [
            w
            for w in self.board.workers.values()
            if w.status == "active" and not self.leases.expired(w.worker_id)
        ]

    @served
    def maintain(self) -> int:
        """Republish, recover lost workers' runs and enforce deadlines; returns actions taken."""
        return self.maintenance.run()

    # Running

    @served
    def step(self) -> int:
        """One round: catch up, record reports, decide, assign, fire, maintain; the work done."""
        done = self.follow_log()
        if recorded := self.record_reports():  # read back only when something was saved
            done += recorded + self.follow_log()
        done += self.finish_broadcasts() + self.decide_dependencies()
        done += self.pause_failing_tasks()
        done += self.assign_pending()
        done += self.fire_due_slots()  # every round: a due slot should not wait for maintenance
        done += self.advance_backfills()
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
        self.reports.start_pump()
        self.health.beat(force=True)
        self._catch_up(stop)
        self.live = True
        self.maintenance.republish_unstarted(force=True)
        while not stop.is_set():
            self._run_round(stop)
        # Record what workers reported while we were stopping, so no outcome is dropped.
        self.reports.drain()
        self.health.stopped()

    def _catch_up(self, stop: threading.Event) -> None:
        # The start-up replay, behind the breaker, retried until the database answers.
        while not stop.is_set():
            try:
                self.books.load()
                self.breaker.call(self.follow_log)
                return
            except Exception:
                logger.warning("cannot read the log yet; retrying", exc_info=True)
                self.health.beat()
                stop.wait(self.breaker.retry_after() or 0.5)

    def _run_round(self, stop: threading.Event) -> None:
        generation = self._wakeup.generation()
        try:
            busy = self.breaker.call(self.step)
        except CircuitOpenError as error:
            self.health.round_done(error)
            stop.wait(max(error.retry_after, 0.05))
            return
        except Exception as error:  # a failed round is retried; the log keeps the truth
            logger.warning("dispatch round failed: %s: %s", type(error).__name__, error)
            self.health.round_done(error)
            stop.wait(self.breaker.retry_after() or 0.2)
            return
        self.health.round_done(None)
        if not busy:
            self._wakeup.wait(generation, self._idle_wait())
