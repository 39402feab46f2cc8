"""Which pending runs go to which workers this round, and why the others wait: a pure plan."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from application.dispatch.board import DispatchBoard
from application.dispatch.concurrency_keys import KEY_WAIT, KeyCounts, interleave
from application.dispatch.entries import OpenRun, WorkerSlot
from application.dispatch.namespace_limits import NAMESPACE_WAIT, NamespaceCounts
from application.dispatch.policy import DispatchPolicy
from application.dispatch.routing import RoundRobin, choose_worker
from domain.namespace import DEFAULT_NAMESPACE, namespace_of

QUEUED_REASON = "concurrency: waiting for the previous run of this task to end (policy queue)"
SKIPPED_REASON = "skipped: the previous run of this task is still running (concurrency_policy)"
REPLACED_REASON = "cancelled: replaced by a newer run (concurrency_policy replace)"
BUFFERED = ("buffer_one", "buffer_all")  # Temporal's overlap modes: strictly in request order
BUFFERED_SKIP_REASON = (
    "skipped: a run of this task is already waiting behind the running one "
    "(concurrency_policy buffer_one)"
)


def buffered_reason(policy: str) -> str:
    """Why a run of a buffered task waits."""
    return f"concurrency: waiting for the earlier runs of this task to end (policy {policy})"


@dataclass
class Seat:
    """A live worker as one round sees it: its slot plus what the round has reserved on it."""

    worker_id: UUID
    name: str
    capacity: int
    slot: WorkerSlot
    reserved: int = 0

    @classmethod
    def of(cls, slot: WorkerSlot) -> Seat:
        """A seat with nothing reserved yet."""
        return cls(slot.worker_id, slot.name, slot.capacity, slot)

    @property
    def free(self) -> int:
        """How many more runs it can take in this round."""
        return self.slot.free - self.reserved

    @property
    def load(self) -> float:
        """The share of its capacity in use, counting this round's reservations."""
        return (len(self.slot.running) + self.reserved) / self.capacity


@dataclass
class AssignmentPlan:
    """What one round decided; the dispatcher saves each part in one batch."""

    wanted: list[tuple[UUID, UUID]] = field(default_factory=list)  # (run, worker)
    notes: list[tuple[UUID, str, str]] = field(default_factory=list)  # (run, code, reason)
    skip: list[UUID] = field(default_factory=list)  # new runs skipped by the overlap policy
    skip_reasons: dict[UUID, str] = field(default_factory=dict)  # each skipped run's reason
    replace: list[UUID] = field(default_factory=list)  # older runs a newer one replaces
    fanouts: list[tuple[UUID, list[UUID]]] = field(default_factory=list)  # broadcast -> workers
    unreadable: list[tuple[OpenRun, Exception]] = field(default_factory=list)  # to quarantine


def plan_assignments(
    board: DispatchBoard,
    live_workers: Sequence[WorkerSlot],
    now: datetime,
    policy: DispatchPolicy,
    round_robin: RoundRobin,
    draw: Callable[[], float],
    blocking: Callable[[UUID], list[str]] = lambda _run_id: [],
) -> AssignmentPlan:
    """Plan pending runs, highest priority first, onto live active workers by strategy.

    A run held back for a reason other than a busy pool (dependency, overlap queue, no
    eligible worker) gets a note when its reason changed, so "why is it not running?" is a
    query. `blocking(run_id)` names the upstream tasks a dependency run still waits for.
    The board is only read: reservations live in this round's seats and are thrown away.
    """
    pending = interleave(board.pending(now))
    planner = _Round(board, live_workers, policy.batch_size, round_robin, draw, blocking)
    planner.line_up(pending)
    for run in pending:
        try:
            planner.take(run)
        except Exception as error:  # one run the decisions cannot read: held alone
            planner.plan.unreadable.append((run, error))
    planner.plan.notes = planner.plan.notes[: policy.batch_size]
    return planner.plan


def no_eligible_reason(task: dict[str, Any]) -> str:
    """Why no worker can take the task: what it asks for."""
    labels = task.get("labels") or {}
    wants = f"executor {task.get('executor')!r}, queue {task.get('queue', 'default')!r}"
    if (namespace := namespace_of(task)) != DEFAULT_NAMESPACE:
        wants += f", namespace {namespace!r}"
    if labels:
        wants += f", labels {labels}"
    return f"no_eligible_worker: no live active worker offers {wants}"


class _Round:
    """One round's scratch state: the seats, the tasks now busy, the plan so far."""

    def __init__(
        self,
        board: DispatchBoard,
        live_workers: Sequence[WorkerSlot],
        batch_size: int,
        round_robin: RoundRobin,
        draw: Callable[[], float],
        blocking: Callable[[UUID], list[str]],
    ) -> None:
        self._board = board
        self._seats = [Seat.of(slot) for slot in live_workers]
        self._batch_size = batch_size
        self._round_robin = round_robin
        self._draw = draw
        self._blocking = blocking
        self._busy_tasks = board.busy_tasks()
        self._out_before = frozenset(self._busy_tasks)  # tasks with a run out as the round began
        self._ahead: dict[UUID, int] = {}  # pending run -> its task's runs pending before it
        self._keys = KeyCounts(r for r in board.open_runs.values() if r.worker_id or r.fanned_out)
        out = (r for r in board.open_runs.values() if r.worker_id)
        self._namespaces = NamespaceCounts(out, board.namespace_limits)
        self.plan = AssignmentPlan()

    def line_up(self, pending: Sequence[OpenRun]) -> None:
        """Number each task's pending runs in request order (for the buffered policies)."""
        count: dict[UUID, int] = {}
        for run in sorted(pending, key=lambda r: r.position):
            self._ahead[run.run_id] = count.get(run.task_id, 0)
            count[run.task_id] = self._ahead[run.run_id] + 1

    def take(self, run: OpenRun) -> None:
        """Decide one pending run: assign (reserving a seat), note why it waits, or skip."""
        if run.parent_run_id is not None:
            self._take_shard(run)  # its broadcast run already passed the overlap policy
            return
        if run.trigger == "dependency" and (waiting_for := self._blocking(run.run_id)):
            names = ", ".join(repr(n) for n in waiting_for)
            self._note(run, "dependency", f"dependency: waiting for {names}")
            return
        overlap = run.task.get("concurrency_policy") or "allow"
        replaced: list[UUID] = []
        if overlap in BUFFERED and not self._next_in_line(run, overlap):
            return
        if run.task_id in self._busy_tasks and overlap not in ("allow", *BUFFERED):
            if overlap == "skip":
                self._skip(run, SKIPPED_REASON)
                return
            if overlap == "queue":
                self._note(run, "concurrency", QUEUED_REASON)
                return
            if overlap == "replace":
                replaced = self._board.out_runs_of(run.task_id)
        if (reason := self._keys.blocked(run)) is not None:
            self._note(run, KEY_WAIT, reason)
            return
        if (reason := self._namespaces.blocked(run)) is not None:
            self._note(run, NAMESPACE_WAIT, reason)
            return
        self._route(run, replaced)

    def _next_in_line(self, run: OpenRun, overlap: str) -> bool:
        # Its place: the task's run still out (one, at most, under these policies), then the
        # runs requested before it. First in line goes out; buffer_one keeps one waiting.
        place = self._ahead.get(run.run_id, 0) + (run.task_id in self._out_before)
        if place == 0:
            return True
        if overlap == "buffer_one" and place > 1:
            self._skip(run, BUFFERED_SKIP_REASON)
        else:
            self._note(run, "concurrency", buffered_reason(overlap))
        return False

    def _skip(self, run: OpenRun, reason: str) -> None:
        self.plan.skip.append(run.run_id)
        self.plan.skip_reasons[run.run_id] = reason

    def _route(self, run: OpenRun, replaced: list[UUID]) -> None:
        eligible = [seat for seat in self._seats if seat.slot.accepts(run.task)]
        strategy = str(run.task.get("routing_strategy") or "least_loaded")
        reason = no_eligible_reason(run.task) if not eligible else ""
        self.plan.replace += replaced  # nothing below raises: the run's decision is whole
        if not eligible:
            self._note(run, "no_eligible_worker", reason)
            return
        if strategy == "broadcast":
            ordered = sorted(eligible, key=lambda seat: (seat.name, str(seat.worker_id)))
            self.plan.fanouts.append((run.run_id, [seat.worker_id for seat in ordered]))
            self._busy_tasks.add(run.task_id)
            return
        if self._full() or not any(seat.free > 0 for seat in eligible):
            return  # waits for a free slot: no event, or a busy pool would flood the log
        seat = choose_worker(strategy, run.task_id, eligible, self._round_robin, self._draw)
        if seat is None:
            return  # every eligible worker is full: waits without a new event
        self._reserve(run, seat)
        self._busy_tasks.add(run.task_id)

    def _take_shard(self, run: OpenRun) -> None:
        if self._full():
            return
        # A shard waits for its own worker while that worker is live; if it is gone, any
        # eligible worker takes the shard (the data partition still needs processing).
        target = next((s for s in self._seats if s.worker_id == run.target_worker_id), None)
        if target is not None:
            seat = target if target.free > 0 else None
        else:
            eligible = [s for s in self._seats if s.slot.accepts(run.task)]
            seat = choose_worker(
                "least_loaded", run.task_id, eligible, self._round_robin, self._draw
            )
        if seat is not None:
            self._reserve(run, seat)

    def _reserve(self, run: OpenRun, seat: Seat) -> None:
        seat.reserved += 1  # so this round does not overfill it; the log says the rest
        self._keys.took(run)
        self._namespaces.took(run)
        self.plan.wanted.append((run.run_id, seat.worker_id))

    def _note(self, run: OpenRun, code: str, reason: str) -> None:
        if run.wait_code != code:  # recorded once per cause
            self.plan.notes.append((run.run_id, code, reason))

    def _full(self) -> bool:
        return len(self.plan.wanted) >= self._batch_size
