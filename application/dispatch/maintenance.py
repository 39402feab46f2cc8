"""Maintenance: redeliver what did not start, recover lost workers, time out, fence.

The functions only decide, reading the board; `Maintenance` saves what needs an event and
then tells the bus the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from application.bus import Bus
from application.dispatch.board import DispatchBoard
from application.dispatch.books import DispatchBooks
from application.dispatch.deliveries import Courier
from application.dispatch.entries import OpenRun, WorkerSlot
from application.dispatch.liveness import Lease, Leases
from application.dispatch.policy import DispatchObserver, DispatchPolicy
from application.messages import Control
from application.ports import Clock

if TYPE_CHECKING:
    from application.commands.app import SchedulerApp

logger = logging.getLogger(__name__)

DEADLINE_ERROR = "deadline exceeded: no result within timeout_seconds + grace"
GONE = ("lost", "gone")
FENCE_RECENT_ROUNDS = 5  # heartbeats older than this many maintenance intervals are ignored


def unstarted_to_republish(
    board: DispatchBoard,
    last_sent: Callable[[UUID], float],
    now: float,
    republish_after_seconds: float,
    force: bool = False,
) -> list[OpenRun]:
    """Assignments whose start was not reported in time (outbox healing); times are monotonic."""
    due: list[OpenRun] = []
    for run in board.open_runs.values():
        if run.worker_id is None or run.started_at is not None:
            continue
        slot = board.workers.get(run.worker_id)
        if slot is None or slot.status in GONE:
            continue
        if force or now - last_sent(run.run_id) >= republish_after_seconds:
            due.append(run)
    return due


def workers_to_recover(
    board: DispatchBoard, expired: Callable[[WorkerSlot], bool]
) -> list[tuple[UUID, list[UUID]]]:
    """Workers to record lost (lease expired) or already gone, with the open runs they hold."""
    lost: list[tuple[UUID, list[UUID]]] = []
    for slot in board.workers.values():
        held = [r for r in slot.running if r in board.open_runs]
        if (slot.status in ("active", "draining") and expired(slot)) or (
            slot.status in GONE and held
        ):
            lost.append((slot.worker_id, held))
    return lost


def overdue_runs(board: DispatchBoard, now: datetime, grace_seconds: float) -> list[OpenRun]:
    """Started runs past timeout + grace, even if their worker went silent."""
    overdue: list[OpenRun] = []
    for run in board.open_runs.values():
        timeout = int(run.task.get("timeout_seconds") or 0)
        if run.started_at is None or timeout <= 0:
            continue
        if now > run.started_at + timedelta(seconds=timeout + grace_seconds):
            overdue.append(run)
    return overdue


def fencing_controls(
    board: DispatchBoard, leases: Mapping[UUID, Lease], since: datetime
) -> list[Control]:
    """Cancel what the log superseded and tell lost workers to rejoin, for recent heartbeats."""
    controls: list[Control] = []
    for worker_id, lease in leases.items():
        slot = board.workers.get(worker_id)
        if slot is None or lease.at < since:
            continue
        if slot.status in GONE:
            controls.append(Control("rejoin", worker_id))
        controls += [
            Control("cancel", worker_id, run_id, attempt)
            for run_id, attempt in lease.running
            if board.superseded(run_id, attempt)
        ]
    return controls


class Maintenance:
    """Runs the decisions above: saves what needs an event, then tells the bus the rest."""

    def __init__(
        self,
        app: SchedulerApp,
        bus: Bus,
        books: DispatchBooks,
        courier: Courier,
        leases: Leases,
        clock: Clock,
        monotonic: Callable[[], float],
        policy: DispatchPolicy,
        observer: DispatchObserver,
        name: str,
    ) -> None:
        self._app = app
        self._bus = bus
        self._books = books
        self._board = books.board
        self._courier = courier
        self._leases = leases
        self._clock = clock
        self._monotonic = monotonic
        self.policy = policy
        self._observer = observer
        self._name = name

    def run(self) -> int:
        """Republish, recover lost workers' runs, enforce deadlines, fence; actions taken."""
        return (
            self.republish_unstarted()
            + self.recover_lost_workers()
            + self.enforce_deadlines()
            + self.fence_heartbeats()
            + self._books.handle_quarantine_requests()
        )

    def republish_unstarted(self, force: bool = False) -> int:
        """Deliver again every assignment whose start was not reported in time (outbox)."""
        self._courier.keep_only(self._board.open_runs)
        runs = unstarted_to_republish(
            self._board,
            self._courier.last_sent,
            self._monotonic(),
            self.policy.republish_after_seconds,
            force,
        )
        self._courier.deliver(runs)
        return len(runs)

    def recover_lost_workers(self) -> int:
        """Record workers whose lease expired as lost; requeue runs held by lost or gone ones."""
        lost = workers_to_recover(self._board, lambda slot: self._leases.expired(slot.worker_id))
        if not lost:
            return 0
        requeued = self._app.recover_workers(
            lost, self.policy.max_recoveries, self._name, self._clock.now()
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
        overdue = overdue_runs(self._board, now, self.policy.deadline_grace_seconds)
        if not overdue:
            return 0
        self._app.time_out_runs([r.run_id for r in overdue], DEADLINE_ERROR, self._name, now)
        for run in overdue:
            if run.worker_id is not None:
                self._bus.publish_control(Control("cancel", run.worker_id, run.run_id, run.attempt))
        return len(overdue)

    def fence_heartbeats(self) -> int:
        """Tell workers to kill attempts the log superseded, and lost workers to rejoin."""
        recent = timedelta(seconds=self.policy.maintenance_interval * FENCE_RECENT_ROUNDS)
        leases = self._leases.store.snapshot()
        controls = fencing_controls(self._board, leases, self._clock.now() - recent)
        for control in controls:
            self._bus.publish_control(control)
        return len(controls)
