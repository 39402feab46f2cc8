"""The Backfill aggregate: the runs of a task's past slots, released a few at a time."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.aggregate import SchedulerAggregate
from domain.backfill_slots import slots_after, window_slots
from domain.context import CommandContext
from domain.errors import IllegalTransitionError, InvalidFieldError
from domain.task_run import TaskRun

# allow: backfill runs run side by side (up to the concurrency limit) whatever the task's
# concurrency_policy says; task: each run follows the task's concurrency_policy as a cron
# fire does (skip, queue or replace against the task's other runs, backfill runs included).
OVERLAP_POLICIES = ("allow", "task")
# A slot that already has a run (cron fired it, or an earlier backfill did) always keeps it:
# its run id is the cron fire's, so a second run of that slot cannot exist.
MAX_CONCURRENCY = 100


class BackfillStatus:
    """The statuses of a backfill."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Backfill(SchedulerAggregate):
    """One backfill: its window and limits, the slots decided so far, the runs in flight."""

    TOPIC = "scheduler:Backfill"

    class Created(SchedulerAggregate.Created):
        # Unused: every Backfill starts with the named event below.
        TOPIC = "scheduler:Backfill.Created"

    class Started(SchedulerAggregate.Created):
        TOPIC = "scheduler:Backfill.Started"
        status: ClassVar[str] = BackfillStatus.RUNNING
        task_id: UUID
        task_version: int
        timing: dict[str, Any]  # the task's timing when it started: the slots never move
        window_from: datetime
        window_to: datetime
        slots_total: int
        concurrency: int
        overlap_policy: str

        def apply(self, aggregate: Backfill) -> None:
            aggregate.task_id = self.task_id
            aggregate.task_version = self.task_version
            aggregate.timing = dict(self.timing)
            aggregate.window_from = self.window_from
            aggregate.window_to = self.window_to
            aggregate.slots_total = self.slots_total
            aggregate.concurrency = self.concurrency
            aggregate.overlap_policy = self.overlap_policy
            aggregate.status = self.status
            aggregate.decided_through = None
            aggregate.in_flight = []
            aggregate.requested = aggregate.existing = 0
            aggregate.finished = aggregate.failed = 0
            aggregate.reason = None
            aggregate.started_by = self.metadata.get("actor")

    class SlotsRequested(SchedulerAggregate.Event):
        """Runs requested for these slots; the `existing` ones already had a run."""

        TOPIC = "scheduler:Backfill.SlotsRequested"
        nominal_times: list[datetime]
        existing: list[datetime]
        through: datetime  # every slot up to here is decided

        def apply(self, aggregate: Backfill) -> None:
            ids = [TaskRun.fire_id(aggregate.task_id, t) for t in self.nominal_times]
            aggregate.in_flight = [*aggregate.in_flight, *ids]
            aggregate.requested += len(self.nominal_times)
            aggregate.existing += len(self.existing)
            aggregate.decided_through = self.through

    class RunsFinished(SchedulerAggregate.Event):
        """These runs of the backfill ended; `failed` are those that did not succeed."""

        TOPIC = "scheduler:Backfill.RunsFinished"
        run_ids: list[UUID]
        failed: list[UUID]

        def apply(self, aggregate: Backfill) -> None:
            ended = set(self.run_ids)
            aggregate.in_flight = [r for r in aggregate.in_flight if r not in ended]
            aggregate.finished += len(self.run_ids)
            aggregate.failed += len(self.failed)

    class Completed(SchedulerAggregate.Event):
        TOPIC = "scheduler:Backfill.Completed"
        status: ClassVar[str] = BackfillStatus.COMPLETED

        def apply(self, aggregate: Backfill) -> None:
            aggregate.status = self.status

    class Cancelled(SchedulerAggregate.Event):
        """No more slots are requested; `cancelled_runs` were pending and are cancelled."""

        TOPIC = "scheduler:Backfill.Cancelled"
        status: ClassVar[str] = BackfillStatus.CANCELLED
        reason: str
        cancelled_runs: list[UUID]

        def apply(self, aggregate: Backfill) -> None:
            aggregate.status = self.status
            aggregate.reason = self.reason

    if TYPE_CHECKING:
        task_id: UUID
        task_version: int
        timing: dict[str, Any]
        window_from: datetime
        window_to: datetime
        slots_total: int
        concurrency: int
        overlap_policy: str
        status: str
        decided_through: datetime | None
        in_flight: list[UUID]
        requested: int
        existing: int
        finished: int
        failed: int
        reason: str | None
        started_by: str | None

    @classmethod
    def start(
        cls,
        backfill_id: UUID,
        *,
        task_id: UUID,
        task_version: int,
        timing: dict[str, Any],
        window: tuple[datetime, datetime],
        concurrency: int,
        overlap_policy: str,
        ctx: CommandContext,
    ) -> Backfill:
        """Start a backfill of the slots of `timing` in the window (both ends included).

        Raises:
            InvalidFieldError: a bad window, concurrency or overlap policy, naming the field.
        """
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise InvalidFieldError("concurrency", f"must be 1 to {MAX_CONCURRENCY}")
        if overlap_policy not in OVERLAP_POLICIES:
            raise InvalidFieldError("overlap_policy", f"must be one of {list(OVERLAP_POLICIES)}")
        slots = window_slots(timing, *window)
        return cls._create_with(
            cls.Started,
            backfill_id,
            ctx,
            task_id=task_id,
            task_version=task_version,
            timing=dict(timing),
            window_from=window[0],
            window_to=window[1],
            slots_total=len(slots),
            concurrency=concurrency,
            overlap_policy=overlap_policy,
        )

    @property
    def decided(self) -> int:
        """Slots decided so far: requested or found existing."""
        return self.requested + self.existing

    @property
    def free(self) -> int:
        """How many more runs may be in flight now (0 unless running)."""
        if self.status != BackfillStatus.RUNNING:
            return 0
        return max(self.concurrency - len(self.in_flight), 0)

    @property
    def is_done(self) -> bool:
        """Every slot decided and every run it requested ended."""
        return self.decided >= self.slots_total and not self.in_flight

    def undecided_slots(self) -> Any:
        """The slots not decided yet, oldest first (a lazy iterator)."""
        return slots_after(self.timing, self.decided_through, self.window_from, self.window_to)

    def request_slots(
        self, nominal_times: list[datetime], existing: list[datetime], ctx: CommandContext
    ) -> None:
        """Record the next decided slots: runs requested for some, the rest already had one.

        Raises:
            IllegalTransitionError: the backfill is not running, or the runs would exceed
                its concurrency limit.
        """
        if self.status != BackfillStatus.RUNNING:
            raise IllegalTransitionError(f"backfill {self.id}", self.status, "request slots")
        if len(nominal_times) > self.free:
            raise IllegalTransitionError(
                f"backfill {self.id}", f"{len(self.in_flight)} in flight", "exceed concurrency"
            )
        decided = [*nominal_times, *existing]
        if not decided:
            return
        self._record(
            self.SlotsRequested,
            ctx,
            nominal_times=sorted(nominal_times),
            existing=sorted(existing),
            through=max(decided),
        )

    def record_finished(self, ended: dict[UUID, bool], ctx: CommandContext) -> None:
        """Record runs of the backfill that ended (run id -> whether it failed)."""
        mine = [run_id for run_id in self.in_flight if run_id in ended]
        if mine:
            failed = [run_id for run_id in mine if ended[run_id]]
            self._record(self.RunsFinished, ctx, run_ids=mine, failed=failed)

    def complete_if_done(self, ctx: CommandContext) -> bool:
        """Record that the backfill completed, once every slot is decided and every run ended."""
        if self.status == BackfillStatus.RUNNING and self.is_done:
            self._record(self.Completed, ctx)
            return True
        return False

    def cancel(self, reason: str, cancelled_runs: list[UUID], ctx: CommandContext) -> None:
        """Stop requesting slots; the runs named are cancelled in the same save."""
        if self.status != BackfillStatus.RUNNING:
            raise IllegalTransitionError(f"backfill {self.id}", self.status, "cancel")
        self._record(self.Cancelled, ctx, reason=reason, cancelled_runs=cancelled_runs)
