"""Backfills: start one, release its slots up to its concurrency limit, cancel it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from application.commands.base import CommandsBase
from application.results import CommandResult
from domain.backfill import Backfill, BackfillStatus
from domain.backfill_slots import timing_of, window_slots
from domain.context import CommandContext
from domain.errors import IllegalTransitionError, InvalidFieldError, TaskDeletedError
from domain.statuses import RunStatus
from domain.task import Task
from domain.task_run import TaskRun

SCAN_LIMIT = 500  # slots checked for an existing run per decision: the rest wait a round
# (backfill id, {run id: failed?} of its runs seen ending since the last decision)
Advance = tuple[UUID, dict[UUID, bool]]


class BackfillCommands(CommandsBase):
    """The backfill commands of the API and the dispatcher's decisions about backfills."""

    def get_backfill(self, backfill_id: UUID, version: int | None = None) -> Backfill:
        """A backfill as its events say it is."""
        return self._get(backfill_id, Backfill, "backfill", version)

    def preview_backfill(
        self, task_id: UUID, start: datetime, end: datetime, now: datetime
    ) -> list[tuple[datetime, bool]]:
        """Every slot of the task in [start, end] and whether a run for it exists already."""
        _ensure_past(end, now)
        self._ensure_not_archived(start)
        task = self.get_task(task_id)
        slots = window_slots(timing_of(task.spec), start, end)
        return [(slot, self._exists(TaskRun.fire_id(task_id, slot))) for slot in slots]

    def _ensure_not_archived(self, start: datetime) -> None:
        if (problem := _archived_problem(start, self.archived_before())) is not None:
            raise InvalidFieldError("from", problem)

    def start_backfill(
        self,
        task_id: UUID,
        window: tuple[datetime, datetime],
        concurrency: int,
        overlap_policy: str,
        ctx: CommandContext,
    ) -> CommandResult:
        """Start a backfill; the dispatcher requests its slots' runs, at most `concurrency`
        in flight at once."""
        _ensure_past(window[1], ctx.now)
        self._ensure_not_archived(window[0])
        task = self.get_task(task_id)
        task.ensure_can_run()
        backfill_id = self._new_id()
        # The backfill is one correlated unit: its events and its runs carry its id.
        own = CommandContext(
            actor=ctx.actor,
            now=ctx.now,
            correlation_id=backfill_id,
            causation_id=ctx.correlation_id,
            on_behalf_of=ctx.on_behalf_of,
        )
        backfill = Backfill.start(
            backfill_id,
            task_id=task_id,
            task_version=task.version,
            timing=timing_of(task.spec),
            window=window,
            concurrency=concurrency,
            overlap_policy=overlap_policy,
            ctx=own,
        )
        recordings = self.save(backfill)
        return CommandResult(backfill_id, self._position(recordings))

    def advance_backfills(self, items: Sequence[Advance], actor: str, now: datetime) -> list[UUID]:
        """Record ended runs, request the next slots up to each limit, complete what is done.

        A slot whose run exists (cron fired it, or another backfill) is recorded as existing,
        never run twice: the run id is the cron fire's. Returns the runs requested.
        """

        def decide(batch: Sequence[Advance]) -> tuple[list[Any], list[UUID]]:
            changed: list[Any] = []
            requested: list[UUID] = []
            for backfill_id, ended in batch:
                aggregates = self._advance(backfill_id, ended, actor, now)
                changed += aggregates
                requested += [a.id for a in aggregates if isinstance(a, TaskRun)]
            return changed, requested

        return self.save_batch(items, decide, tries_alone=3)

    def _advance(
        self, backfill_id: UUID, ended: dict[UUID, bool], actor: str, now: datetime
    ) -> list[Any]:
        backfill = self.get_backfill(backfill_id)
        ctx = CommandContext(actor=actor, now=now, correlation_id=backfill_id)
        backfill.record_finished(ended, ctx)
        runs: list[TaskRun] = []
        if backfill.status == BackfillStatus.RUNNING:
            task = self.get_task(backfill.task_id)
            try:
                runs = self._release(backfill, task, ctx)
            except TaskDeletedError:
                backfill.cancel("the task was deleted", [], ctx)
            backfill.complete_if_done(ctx)
        return [backfill, *runs] if backfill.pending_events or runs else []

    def _release(self, backfill: Backfill, task: Task, ctx: CommandContext) -> list[TaskRun]:
        free = backfill.free
        wanted: list[datetime] = []
        existing: list[datetime] = []
        for scanned, slot in enumerate(backfill.undecided_slots()):
            if len(wanted) >= free or scanned >= SCAN_LIMIT:
                break
            run_id = TaskRun.fire_id(task.id, slot)
            (existing if self._exists(run_id) else wanted).append(slot)
        if wanted:
            task.ensure_can_run()
        backfill.request_slots(wanted, existing, ctx)
        run_ctx = ctx.caused_by(backfill.id)
        spec = dict(task.spec)
        if backfill.overlap_policy == "allow":
            spec["concurrency_policy"] = "allow"  # backfill runs overlap, up to the limit
        return [
            TaskRun.request(
                TaskRun.fire_id(task.id, slot),
                task_id=task.id,
                task_version=task.version,
                task=spec,
                trigger="backfill",
                ctx=run_ctx,
                nominal_time=slot,
            )
            for slot in wanted
        ]

    def cancel_backfill(self, backfill_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Request no more slots and cancel the backfill's runs that are still pending.

        Raises:
            IllegalTransitionError: the backfill has already completed or been cancelled.
        """

        def decide(batch: Sequence[UUID]) -> tuple[list[Any], list[int]]:
            backfill = self.get_backfill(batch[0])
            own = CommandContext(
                actor=ctx.actor,
                now=ctx.now,
                correlation_id=backfill.id,
                causation_id=ctx.correlation_id,
                on_behalf_of=ctx.on_behalf_of,
            )
            pending = [
                run
                for run in (self.get_run(run_id) for run_id in backfill.in_flight)
                if run.status == RunStatus.PENDING
            ]
            for run in pending:
                run.cancel(reason, own.caused_by(backfill.id))
            backfill.cancel(reason, [run.id for run in pending], own)
            return [backfill, *pending], [0]

        positions = self.save_batch([backfill_id], decide, tries_alone=3, raise_when_lost=True)
        if not positions:
            raise IllegalTransitionError(f"backfill {backfill_id}", "busy", "cancel")
        return CommandResult(backfill_id, self.head_position())


def _archived_problem(start: datetime, archived_before: datetime | None) -> str | None:
    # An archived run left the live store: its slot's run id (uuid5 of the slot) would be free
    # again, and a backfill would run the slot a second time.
    if archived_before is None or start >= archived_before:
        return None
    return (
        f"runs that ended before {archived_before.isoformat()} are archived (docs/retention.md): "
        "a backfill there could run a slot again; start from that moment"
    )


def _ensure_past(end: datetime, now: datetime) -> None:
    # Slots still ahead are cron's to fire (or to count as misfires): a backfill is the past.
    if end > now:
        raise InvalidFieldError("to", f"must not be in the future (now is {now.isoformat()})")
