"""The dispatcher's batch decisions: each records many aggregates' events in one save."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from application.commands.base import CommandsBase, run_context
from application.results import Assignment, DependencyDecision
from domain.context import CommandContext
from domain.errors import IllegalTransitionError
from domain.statuses import RunStatus, TaskStatus
from domain.task import Task
from domain.task_run import TaskRun
from domain.worker import Worker

Fire = tuple[UUID, datetime]  # (task, nominal time) of a due cron slot
Misfire = tuple[UUID, datetime, datetime, int, str]  # (task, first, last, count, reason)


class DecisionCommands(CommandsBase):
    """Cron fires, dependencies, holds, overlaps, broadcasts, assignments, recoveries."""

    def fire_cron(
        self,
        fires: Sequence[Fire],
        misfires: Sequence[Misfire],
        actor: str,
        now: datetime,
    ) -> list[UUID]:
        """Request the runs of due cron slots and record missed ones, in one save.

        Each slot's run id is derived from (task, nominal time), so a slot fired by another
        dispatcher collides and is skipped. Returns the runs this call created.
        """
        slots: list[Fire | Misfire] = [*fires, *misfires]
        # The first try does not ask the store whether each slot was fired already: a slot
        # another dispatcher fired fails that save, and then each slot alone looks first.
        tries = 0

        def decide(batch: Sequence[Fire | Misfire]) -> tuple[list[Any], list[UUID]]:
            nonlocal tries
            tries += 1
            return self._fire_slots(batch, actor, now, look=tries > 1)

        return self.save_batch(slots, decide)

    def _fire_slots(
        self, slots: Sequence[Fire | Misfire], actor: str, now: datetime, look: bool
    ) -> tuple[list[Any], list[UUID]]:
        tasks: dict[UUID, Task] = {}

        def task_of(task_id: UUID) -> Task:
            return tasks.get(task_id) or tasks.setdefault(task_id, self.get_task(task_id))

        runs: list[TaskRun] = []
        missed: dict[UUID, Task] = {}  # tasks with events: misfires, counted runs
        for slot in slots:
            if len(slot) == 2:
                task_id, nominal = slot
                run_id = TaskRun.fire_id(task_id, nominal)
                task = task_of(task_id)
                if task.status != TaskStatus.ACTIVE or (look and self._exists(run_id)):
                    continue
                ctx = CommandContext(
                    actor=actor,
                    now=now,
                    correlation_id=run_id,
                    traceparent=self._fire_trace(run_id),
                )
                if task.remaining_runs == 0:  # resumed or set so: it stops firing, saying why
                    task.stop_exhausted(ctx)
                    missed[task_id] = task
                    continue
                runs.append(task.request_run(run_id, "cron", ctx, nominal_time=nominal))
                if task.count_scheduled_run(run_id, ctx):
                    missed[task_id] = task
            else:
                task_id, first, last, count, reason = slot
                task = task_of(task_id)
                ctx = CommandContext(actor=actor, now=now, correlation_id=uuid5_of(task_id))
                if task.status == TaskStatus.ACTIVE and task.record_misfires(
                    first, last, count, reason, ctx
                ):
                    missed[task_id] = task
        return [*runs, *missed.values()], [run.id for run in runs]

    def _fire_trace(self, run_id: UUID) -> str | None:
        # A cron run begins its own trace (with tracing on): the fire is its root span.
        if not self.tracer.enabled:
            return None
        span = self.tracer.start("dispatcher.fire", None, {"scheduler.run_id": str(run_id)})
        span.end()
        return span.traceparent

    def decide_dependencies(
        self, decisions: Sequence[DependencyDecision], actor: str, now: datetime
    ) -> list[UUID]:
        """Request downstream runs of finished upstream runs, in one save.

        A downstream run's id comes from (batch, task), so a decision another dispatcher made
        first collides and is dropped. Returns the runs whose state this call changed.
        """

        def decide(batch: Sequence[DependencyDecision]) -> tuple[list[TaskRun], list[UUID]]:
            runs = [self._dependency_run(decision, actor, now) for decision in batch]
            touched = [run for run in runs if run is not None]
            return touched, [run.id for run in touched]

        return self.save_batch(decisions, decide)

    def _dependency_run(
        self, decision: DependencyDecision, actor: str, now: datetime
    ) -> TaskRun | None:
        run_id = TaskRun.dependency_id(decision.batch_id, decision.task_id)
        ctx = CommandContext(
            actor=actor,
            now=now,
            correlation_id=decision.batch_id,
            causation_id=decision.cause_run_id,
            traceparent=decision.traceparent,
        )
        if self._exists(run_id):
            run = self.get_run(run_id)
        else:
            task = self.get_task(decision.task_id)
            if task.status == TaskStatus.DELETED:
                return None
            run = task.request_run(run_id, "dependency", ctx)
            if task.status == TaskStatus.PAUSED:
                run.skip(f"task is paused: {task.pause_reason or 'no reason given'}", ctx)
                return run
        if decision.failed_upstream is not None and run.status == RunStatus.PENDING:
            upstream_task_id, upstream_status = decision.failed_upstream
            run.fail_upstream(
                upstream_task_id, decision.cause_run_id, upstream_status, decision.reason, ctx
            )
        return run if run.pending_events else None

    def note_waiting(
        self, notes: Sequence[tuple[UUID, str, str]], actor: str, now: datetime
    ) -> int:
        """Record why pending runs are not going out (code, reason), in one save."""
        runs = []
        for run_id, code, reason in notes:
            run = self.get_run(run_id)
            if run.note_waiting(code, reason, run_context(run, actor, now)):
                runs.append(run)
        # On a conflict a run moved on meanwhile; the next round looks again.
        return len(runs) if runs and self.save_or_concede(*runs) else 0

    def decide_overlaps(
        self,
        skip: Sequence[UUID],
        cancel: Sequence[UUID],
        reason_skip: str | Mapping[UUID, str],
        reason_cancel: str,
        actor: str,
        now: datetime,
    ) -> None:
        """Record overlap decisions in one save: skipped new runs, cancelled old ones."""
        runs = []
        for run_id in skip:
            run = self.get_run(run_id)
            if run.status == RunStatus.PENDING:
                reason = reason_skip if isinstance(reason_skip, str) else reason_skip[run_id]
                run.skip(reason, run_context(run, actor, now))
                runs.append(run)
        for run_id in cancel:
            run = self.get_run(run_id)
            if not run.is_finished:
                run.cancel(reason_cancel, run_context(run, actor, now))
                runs.append(run)
        if runs:
            self.save_or_concede(*runs)

    def fan_out_runs(
        self, fanouts: Sequence[tuple[UUID, Sequence[UUID]]], actor: str, now: datetime
    ) -> int:
        """Split broadcast runs into one shard run per worker, in one save; returns how many."""

        def decide(
            batch: Sequence[tuple[UUID, Sequence[UUID]]],
        ) -> tuple[list[TaskRun], list[UUID]]:
            touched: list[TaskRun] = []
            for run_id, worker_ids in batch:
                run = self.get_run(run_id)
                if run.status != RunStatus.PENDING or run.shard_run_ids:
                    continue  # another dispatcher fanned it out first
                touched += [run, *run.fan_out(list(worker_ids), run_context(run, actor, now))]
            return touched, [run.id for run in touched if run.shard_run_ids]

        return len(self.save_batch(fanouts, decide))

    def finish_broadcasts(
        self, outcomes: Sequence[tuple[UUID, dict[UUID, str]]], actor: str, now: datetime
    ) -> int:
        """End broadcast runs whose shards all ended, in one save."""
        runs = []
        for run_id, shard_statuses in outcomes:
            run = self.get_run(run_id)
            if run.is_finished:
                continue
            run.finish_broadcast(shard_statuses, run_context(run, actor, now))
            runs.append(run)
        return len(runs) if runs and self.save_or_concede(*runs) else 0

    def assign_runs(
        self, wanted: Sequence[tuple[UUID, UUID]], actor: str, now: datetime
    ) -> list[Assignment]:
        """Assign many runs to workers in one save; runs no longer pending are left out."""

        def decide(batch: Sequence[tuple[UUID, UUID]]) -> tuple[list[TaskRun], list[Assignment]]:
            runs: list[TaskRun] = []
            assignments: list[Assignment] = []
            for run_id, worker_id in batch:
                run = self.get_run(run_id)
                try:
                    attempt = run.assign(worker_id, run_context(run, actor, now))
                except IllegalTransitionError:
                    continue  # another dispatcher got there first
                runs.append(run)
                assignments.append(Assignment(run.id, worker_id, attempt))
            return runs, assignments

        return self.save_batch(wanted, decide)

    def time_out_runs(
        self, run_ids: Sequence[UUID], error: str, actor: str, now: datetime
    ) -> list[UUID]:
        """End overrunning attempts as timed out, in one save; returns those recorded."""
        runs = []
        for run_id in run_ids:
            run = self.get_run(run_id)
            if run.is_finished or run.status in (RunStatus.PENDING, RunStatus.RETRYING):
                continue
            run.time_out(error, run_context(run, actor, now))
            runs.append(run)
        return [run.id for run in runs] if runs and self.save_or_concede(*runs) else []

    def recover_workers(
        self,
        lost: Sequence[tuple[UUID, Sequence[UUID]]],
        max_recoveries: int,
        actor: str,
        now: datetime,
    ) -> list[UUID]:
        """Record expired workers Lost and requeue the unfinished runs they held, in one save.

        Returns the runs that are pending again (runs past max_recoveries fail instead).
        """
        touched: list[Any] = []
        requeued: list[UUID] = []
        for worker_id, run_ids in lost:
            worker: Worker = self._get(worker_id, Worker, "worker", None)
            ctx = CommandContext(actor=actor, now=now, correlation_id=uuid5_of(worker_id))
            if worker.mark_lost("lease expired", ctx):
                touched.append(worker)
            for run_id in run_ids:
                run = self.get_run(run_id)
                if run.is_finished or run.status in (RunStatus.PENDING, RunStatus.RETRYING):
                    continue
                if run.worker_id != worker_id:
                    continue
                if run.requeue_after_worker_lost(max_recoveries, run_context(run, actor, now)):
                    requeued.append(run.id)
                touched.append(run)
        if touched and not self.save_or_concede(*touched):
            return []
        return requeued


def uuid5_of(aggregate_id: UUID) -> UUID:
    """A deterministic correlation id for decisions not caused by a request."""
    return uuid5(NAMESPACE_URL, f"/decisions/{aggregate_id}")
