"""The command side: one eventsourcing Application whose methods are the command handlers."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording, StoredEvent

from application.messages import Report
from application.ports import IdFactory, random_ids
from application.quarantine import UndecodableEvent, describe
from application.results import Assignment, CommandResult, DependencyDecision
from application.secrets import (
    NoSecretBox,
    Opener,
    Sealer,
    SecretBox,
    SecretUnreadableError,
    secret_plaintext,
)
from application.task_numbers import CREATED_TOPIC, TaskNumbers
from domain.attempt import AttemptEnd, AttemptStart
from domain.context import CommandContext
from domain.errors import (
    AggregateUnreadableError,
    IllegalTransitionError,
    InvalidFieldError,
    NotFoundError,
    TaskNameTakenError,
    VersionMismatchError,
)
from domain.ids import is_task_number, parse_uuid
from domain.retry import backoff_delay
from domain.snapshot import SchedulerSnapshot
from domain.task import Task
from domain.task_name import TaskName
from domain.task_run import ReportOutcome, TaskRun
from domain.task_spec import TaskSpec, validate_spec
from domain.worker import Worker

logger = logging.getLogger(__name__)

MAX_NUMBER_DIGITS = 12  # task numbers are 32-bit: longer digit strings name no task
SNAPSHOT_INTERVAL = 100  # events between snapshots; a save that takes one also reloads once
REPORT_SAVE_TRIES = 5  # saves of one run's reports lost to other dispatchers before giving up


class SchedulerApp(Application[UUID]):
    """Tasks, runs and workers: every change is an event saved here, and only here."""

    name = "Scheduler"  # names the event table: scheduler_events
    # Long-lived aggregates load from a snapshot plus the events after it (issue: a task
    # edited or misfiring for years, a name reused many times). Runs are short by design.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Task: SNAPSHOT_INTERVAL,
        TaskName: SNAPSHOT_INTERVAL,
        Worker: SNAPSHOT_INTERVAL,
    }
    snapshot_class = SchedulerSnapshot

    def __init__(
        self,
        env: dict[str, str] | None = None,
        new_id: IdFactory = random_ids,
        draw: Callable[[], float] = random.random,
        secrets: SecretBox | None = None,
    ) -> None:
        super().__init__(env=env)
        self._new_id = new_id
        self._draw = draw  # randomness is an input: retry jitter
        # Without a key, secret values are refused (422), never stored in plain text.
        self.secrets: SecretBox = secrets or NoSecretBox()
        self._sealer = Sealer(self.secrets)
        self.opener = Opener(self.secrets)
        self._saved_listeners: list[Callable[[int], None]] = []
        self.task_numbers = TaskNumbers(self._created_task_rows)

    def on_saved(self, listener: Callable[[int], None]) -> None:
        """Call `listener(position)` after every save in this process (in-process wake-up)."""
        self._saved_listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            position = recordings[-1].notification.id
            for listener in self._saved_listeners:
                listener(position)

    def head_position(self) -> int:
        """The position of the newest event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def read_log(self, after: int, limit: int, topics: Sequence[str] = ()) -> list[tuple[int, Any]]:
        """Up to `limit` events after a log position, with their positions.

        An event that cannot be decoded (unknown topic, broken state) comes back as an
        UndecodableEvent for the consumers to quarantine: one bad row never stops a read.
        """
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )
        return [(n.id, self.decode(n)) for n in notifications]

    def decode(self, stored: StoredEvent) -> Any:
        """A stored event as its domain event, or an UndecodableEvent saying why not."""
        try:
            return self.mapper.to_domain_event(stored)
        except Exception as error:  # any stored row must be readable by every consumer
            return UndecodableEvent(
                originator_id=stored.originator_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
                error=describe(error),
            )

    def _created_task_rows(self, after: int, limit: int) -> list[tuple[int, Any]]:
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, topics=[CREATED_TOPIC], inclusive_of_start=False
        )
        return [(n.id, n.originator_id) for n in notifications]

    def aggregate_events(self, aggregate_id: UUID) -> list[Any]:
        """Every stored event of one aggregate, oldest first, decoded as far as possible."""
        return [self.decode(stored) for stored in self.recorder.select_events(aggregate_id)]

    # Tasks

    def create_task(self, spec: TaskSpec, ctx: CommandContext) -> CommandResult:
        """Create a task and reserve its name in one atomic save.

        Raises:
            TaskNameTakenError: another live task has the name.
        """
        task_id = self._new_id()
        if spec.secret_inputs():  # validated again once sealed; without secrets, as it is
            spec = validate_spec(self._sealer.definition(task_id, spec.model_dump()))
        task = Task.create(task_id, spec, ctx)
        self._check_upstreams(task.id, spec.name, spec.depends_on)
        name = self._claim_name(spec.name, task.id, ctx)
        return CommandResult(task.id, self._save_or_name_taken(spec.name, task, name))

    def update_task(
        self,
        task_id: UUID,
        changes: dict[str, Any],
        ctx: CommandContext,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Change part of a task's definition; a rename moves the name reservation."""
        task = self.get_task(task_id)
        if expected_version is not None and expected_version != task.version:
            raise VersionMismatchError(expected_version, task.version)
        old_name = task.name
        effective = task.update(self._sealer.changes(task.id, task.spec, changes), ctx)
        if "depends_on" in effective:
            self._check_upstreams(task.id, task.name, list(task.spec["depends_on"]))
        touched: list[Any] = [task]
        if "name" in effective:
            old_index: TaskName = self.repository.get(TaskName.id_for(old_name))
            old_index.release(ctx)
            touched += [old_index, self._claim_name(task.name, task.id, ctx)]
        position = self._save_or_name_taken(task.name, *touched) if effective else None
        return CommandResult(task.id, position, created=False)

    def rollback_task(self, task_id: UUID, version: int, ctx: CommandContext) -> CommandResult:
        """Restore the definition a task had at `version`, recorded as a new update.

        The restored definition is validated as it stands today: a `run_at` now in the past
        or an upstream since deleted is refused, naming the field.
        """
        current = self.get_task(task_id)
        if not 1 <= version <= current.version:
            raise InvalidFieldError("version", f"task has versions 1 to {current.version}")
        old = self.get_task(task_id, version=version)
        changes = {k: v for k, v in old.spec.items() if current.spec.get(k) != v}
        return self.update_task(task_id, changes, ctx)

    def reseal_task(self, task_id: UUID, ctx: CommandContext) -> CommandResult:
        """Seal every secret of a task's definition with the current key (after a rotation);
        one stored in plain text before secrets were sealed is sealed too. Nothing is
        recorded when all already are."""
        task = self.get_task(task_id)
        changes = {k: task.spec[k] for k in ("env", "http") if task.spec.get(k)}
        return self.update_task(task_id, changes, ctx) if changes else CommandResult(task_id, None)

    def pause_task(self, task_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Pause a task."""
        task = self.get_task(task_id)
        task.pause(reason, ctx)
        return CommandResult(task.id, self._position(self.save(task)), created=False)

    def resume_task(self, task_id: UUID, ctx: CommandContext) -> CommandResult:
        """Resume a paused task."""
        task = self.get_task(task_id)
        task.resume(ctx)
        return CommandResult(task.id, self._position(self.save(task)), created=False)

    def delete_task(self, task_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Delete a task and free its name for reuse."""
        task = self.get_task(task_id)
        task.delete(reason, ctx)
        index: TaskName = self.repository.get(TaskName.id_for(task.name))
        index.release(ctx)
        return CommandResult(task.id, self._position(self.save(task, index)), created=False)

    def get_task(self, task_id: UUID, version: int | None = None) -> Task:
        """Load a task from its events."""
        return self._get(task_id, Task, "task", version)

    def resolve_task_ref(self, ref: str) -> UUID:
        """The task a number, UUID or name names, from the write side (never a view).

        Raises:
            NotFoundError: no task has that number, UUID or name.
        """
        task_id: UUID | None
        if is_task_number(ref):
            task_id = self.task_numbers.id_for(int(ref)) if len(ref) <= MAX_NUMBER_DIGITS else None
        elif (parsed := parse_uuid(ref)) is not None:
            task_id = parsed if self._exists(parsed) else None
        else:
            task_id = self.task_id_for_name(ref)
        if task_id is None:
            raise NotFoundError("task", ref)
        return task_id

    def task_number(self, task_id: UUID) -> int | None:
        """A task's sequential number (1, 2, 3… in creation order), from the log."""
        return self.task_numbers.number_of(task_id)

    def task_id_for_name(self, name: str) -> UUID | None:
        """The live task holding a name, from the index aggregate (consistent, not a view)."""
        try:
            index: TaskName = self.repository.get(TaskName.id_for(name))
        except AggregateNotFoundError:
            return None
        return index.task_id

    # Runs

    def trigger_task(
        self,
        task_id: UUID,
        ctx: CommandContext,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        trigger: str = "manual",
    ) -> CommandResult:
        """Request a run now; with an idempotency key a repeat returns the first run.

        Raises:
            InvalidFieldError: the key was used before with different params.
        """
        task = self.get_task(task_id)
        task.ensure_can_run()
        run_id = TaskRun.idempotent_id(task.id, idempotency_key) if idempotency_key else None
        if run_id is not None and self._exists(run_id):
            return self._idempotent_repeat(run_id, str(idempotency_key), params)
        run = TaskRun.request(
            run_id or self._new_id(),
            task_id=task.id,
            task_version=task.version,
            task=task.spec,
            trigger=trigger,
            ctx=ctx,
            params=self._sealer.params(task.id, params or {}),
        )
        try:
            position = self._position(self.save(run))
        except IntegrityError:
            # The same idempotency key won a race in another request: same run, if same params.
            return self._idempotent_repeat(run.id, str(idempotency_key), params)
        return CommandResult(run.id, position)

    def _idempotent_repeat(
        self, run_id: UUID, key: str, params: dict[str, Any] | None
    ) -> CommandResult:
        # Compared with the run's own Requested event, not a view: a lagging view must not
        # turn a conflicting repeat into a silent success. Secrets compare as plain text.
        first = self.get_run(run_id)
        given = {name: _plain(value) for name, value in (params or {}).items()}
        try:
            same = self.opener.params(first.task_id, first.params) == given
        except SecretUnreadableError as error:
            raise InvalidFieldError(
                "Idempotency-Key", f"cannot compare with the params of run {run_id}: {error}"
            ) from None
        if not same:
            raise InvalidFieldError(
                "Idempotency-Key",
                f"{key!r} was already used for run {run_id} with different params; "
                "send the same body to get that run, or use a new key",
            )
        return CommandResult(run_id, None, created=False)

    def fire_cron(
        self,
        fires: Sequence[tuple[UUID, datetime]],
        misfires: Sequence[tuple[UUID, datetime, datetime, int, str]],
        actor: str,
        now: datetime,
    ) -> list[UUID]:
        """Request the runs of due cron slots and record missed ones, in one save.

        Each slot's run id is derived from (task, nominal time), so a slot fired by another
        dispatcher collides and is skipped. Returns the runs this call created.
        """
        tasks: dict[UUID, Task] = {}
        runs: list[TaskRun] = []
        for task_id, nominal in fires:
            run_id = TaskRun.fire_id(task_id, nominal)
            task = tasks.get(task_id) or tasks.setdefault(task_id, self.get_task(task_id))
            if task.status != "active" or self._exists(run_id):
                continue
            ctx = CommandContext(actor=actor, now=now, correlation_id=run_id)
            runs.append(
                TaskRun.request(
                    run_id,
                    task_id=task.id,
                    task_version=task.version,
                    task=task.spec,
                    trigger="cron",
                    ctx=ctx,
                    nominal_time=nominal,
                )
            )
        touched: list[Any] = list(runs)
        for task_id, first, last, count, reason in misfires:
            task = tasks.get(task_id) or tasks.setdefault(task_id, self.get_task(task_id))
            ctx = CommandContext(actor=actor, now=now, correlation_id=uuid5_of(task_id))
            if task.status == "active" and task.record_misfires(first, last, count, reason, ctx):
                touched.append(task)
        if not touched:
            return []
        try:
            self.save(*touched)
        except IntegrityError:
            if len(fires) + len(misfires) <= 1:
                return []  # another dispatcher fired or recorded it first
            created = [r for f in fires for r in self.fire_cron([f], [], actor, now)]
            for m in misfires:
                self.fire_cron([], [m], actor, now)
            return created
        return [run.id for run in runs]

    def decide_dependencies(
        self, decisions: Sequence[DependencyDecision], actor: str, now: datetime
    ) -> list[UUID]:
        """Request downstream runs of finished upstream runs, in one save.

        A downstream run's id comes from (batch, task), so a decision another dispatcher made
        first collides and is dropped. Returns the runs whose state this call changed.
        """
        touched: list[TaskRun] = []
        for decision in decisions:
            run = self._dependency_run(decision, actor, now)
            if run is not None:
                touched.append(run)
        if not touched:
            return []
        try:
            self.save(*touched)
        except IntegrityError:
            if len(decisions) <= 1:
                return []
            return [r for d in decisions for r in self.decide_dependencies([d], actor, now)]
        return [run.id for run in touched]

    def _dependency_run(
        self, decision: DependencyDecision, actor: str, now: datetime
    ) -> TaskRun | None:
        run_id = TaskRun.dependency_id(decision.batch_id, decision.task_id)
        ctx = CommandContext(
            actor=actor,
            now=now,
            correlation_id=decision.batch_id,
            causation_id=decision.cause_run_id,
        )
        if self._exists(run_id):
            run = self.get_run(run_id)
        else:
            task = self.get_task(decision.task_id)
            if task.status == "deleted":
                return None
            run = TaskRun.request(
                run_id,
                task_id=task.id,
                task_version=task.version,
                task=task.spec,
                trigger="dependency",
                ctx=ctx,
            )
            if task.status == "paused":
                run.skip(f"task is paused: {task.pause_reason or 'no reason given'}", ctx)
                return run
        if decision.failed_upstream is not None and run.status == "pending":
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
            if run.note_waiting(code, reason, _run_context(run, actor, now)):
                runs.append(run)
        if not runs:
            return 0
        try:
            self.save(*runs)
        except IntegrityError:
            return 0  # a run moved on meanwhile; the next round looks again
        return len(runs)

    def decide_overlaps(
        self,
        skip: Sequence[UUID],
        cancel: Sequence[UUID],
        reason_skip: str,
        reason_cancel: str,
        actor: str,
        now: datetime,
    ) -> None:
        """Record overlap decisions in one save: skipped new runs, cancelled old ones."""
        runs = []
        for run_id in skip:
            run = self.get_run(run_id)
            if run.status == "pending":
                run.skip(reason_skip, _run_context(run, actor, now))
                runs.append(run)
        for run_id in cancel:
            run = self.get_run(run_id)
            if not run.is_finished:
                run.cancel(reason_cancel, _run_context(run, actor, now))
                runs.append(run)
        if runs:
            # On a conflict another dispatcher decided first; the log has its decision.
            with suppress(IntegrityError):
                self.save(*runs)

    def cancel_run(self, run_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Cancel a pending, assigned, running or retrying run (its process is killed).

        Cancelling a broadcast run cancels its unfinished shards in the same save.
        """
        run = self.get_run(run_id)
        shards = [self.get_run(shard_id) for shard_id in run.shard_run_ids]
        touched = [run, *(shard for shard in shards if not shard.is_finished)]
        for shard in touched[1:]:
            shard.cancel(f"{reason} (its broadcast run was cancelled)", ctx)
        run.cancel(reason, ctx)
        return CommandResult(run.id, self._position(self.save(*touched)), created=False)

    def fan_out_runs(
        self, fanouts: Sequence[tuple[UUID, Sequence[UUID]]], actor: str, now: datetime
    ) -> int:
        """Split broadcast runs into one shard run per worker, in one save."""
        touched: list[TaskRun] = []
        for run_id, worker_ids in fanouts:
            run = self.get_run(run_id)
            if run.status != "pending" or run.shard_run_ids:
                continue  # another dispatcher fanned it out first
            touched += [run, *run.fan_out(list(worker_ids), _run_context(run, actor, now))]
        if not touched:
            return 0
        try:
            self.save(*touched)
        except IntegrityError:
            if len(fanouts) <= 1:
                return 0
            return sum(self.fan_out_runs([f], actor, now) for f in fanouts)
        return len(fanouts)

    def finish_broadcasts(
        self, outcomes: Sequence[tuple[UUID, dict[UUID, str]]], actor: str, now: datetime
    ) -> int:
        """End broadcast runs whose shards all ended, in one save."""
        runs = []
        for run_id, shard_statuses in outcomes:
            run = self.get_run(run_id)
            if run.is_finished:
                continue
            run.finish_broadcast(shard_statuses, _run_context(run, actor, now))
            runs.append(run)
        if not runs:
            return 0
        with suppress(IntegrityError):  # another dispatcher decided first
            self.save(*runs)
            return len(runs)
        return 0

    def get_run(self, run_id: UUID, version: int | None = None) -> TaskRun:
        """Load a run from its events."""
        return self._get(run_id, TaskRun, "run", version)

    def assign_runs(
        self, wanted: Sequence[tuple[UUID, UUID]], actor: str, now: datetime
    ) -> list[Assignment]:
        """Assign many runs to workers in one save; runs no longer pending are left out."""
        runs: list[TaskRun] = []
        assignments: list[Assignment] = []
        for run_id, worker_id in wanted:
            run = self.get_run(run_id)
            try:
                attempt = run.assign(worker_id, _run_context(run, actor, now))
            except IllegalTransitionError:
                continue  # another dispatcher got there first
            runs.append(run)
            assignments.append(Assignment(run.id, worker_id, attempt))
        if not runs:
            return []
        try:
            self.save(*runs)
        except IntegrityError:
            # A concurrent writer touched one of them; retry one by one so the rest still go.
            if len(wanted) == 1:
                return []
            return [a for pair in wanted for a in self.assign_runs([pair], actor, now)]
        return assignments

    def record_reports(
        self, reports: Sequence[Report], now: datetime
    ) -> list[tuple[Report, ReportOutcome]]:
        """Record many worker reports in one save, fenced by attempt number.

        Whichever dispatcher reads a report, and in whatever order the reports of an attempt
        arrive, each is applied once: a save that loses the race for a run to another
        dispatcher's save reloads that run and applies its reports again on top.
        """
        by_run: dict[UUID, list[Report]] = {}
        for report in reports:
            if report.run_id is not None:
                by_run.setdefault(report.run_id, []).append(report)
        runs, outcomes = self._apply_reports(by_run, now)
        changed = [run for run in runs if run.pending_events]
        if not changed:
            return outcomes
        try:
            self.save(*changed)
        except IntegrityError:
            # Another writer saved one of these runs since we loaded it: run by run, so the
            # others still go in and the contested one is applied to its newer state.
            return [
                o for run_id, group in by_run.items() for o in self._record_run(run_id, group, now)
            ]
        return outcomes

    def _record_run(
        self, run_id: UUID, reports: list[Report], now: datetime
    ) -> list[tuple[Report, ReportOutcome]]:
        lost = 0
        while True:
            runs, outcomes = self._apply_reports({run_id: reports}, now)
            changed = [run for run in runs if run.pending_events]
            try:
                if changed:
                    self.save(*changed)
                return outcomes
            except IntegrityError:
                lost += 1  # yet another save of this run: load it again
                if lost >= REPORT_SAVE_TRIES:
                    raise  # unacknowledged, the reports come back to a dispatcher later

    def _apply_reports(
        self, by_run: dict[UUID, list[Report]], now: datetime
    ) -> tuple[list[TaskRun], list[tuple[Report, ReportOutcome]]]:
        runs: list[TaskRun] = []
        outcomes: list[tuple[Report, ReportOutcome]] = []
        for run_id, group in by_run.items():
            try:
                run = self.get_run(run_id)
            except NotFoundError:
                logger.warning("report for unknown run", extra={"run_id": str(run_id)})
                continue
            runs.append(run)
            for report in group:
                ctx = _run_context(run, f"worker:{report.worker_id}", now)
                outcomes.append((report, _apply_report(run, report, ctx, self._draw)))
        return runs, outcomes

    # Workers

    def register_worker(
        self,
        *,
        name: str,
        hostname: str,
        executors: list[str],
        queues: list[str],
        labels: dict[str, str],
        max_concurrent_tasks: int,
        ctx: CommandContext,
        worker_id: UUID | None = None,
    ) -> CommandResult:
        """Register a worker process in the pool."""
        worker = Worker.register(
            worker_id or self._new_id(),
            name=name,
            hostname=hostname,
            executors=executors,
            queues=queues,
            labels=labels,
            max_concurrent_tasks=max_concurrent_tasks,
            ctx=ctx,
        )
        return CommandResult(worker.id, self._position(self.save(worker)))

    def deregister_worker(self, worker_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Remove a worker from the pool (nothing is recorded if it already left)."""
        worker: Worker = self._get(worker_id, Worker, "worker", None)
        worker.deregister(reason, ctx)
        return CommandResult(worker.id, self._position(self.save(worker)), created=False)

    def drain_worker(self, worker_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Ask a worker to take no new work, finish what it runs, then leave."""
        worker: Worker = self._get(worker_id, Worker, "worker", None)
        worker.drain(reason, ctx)
        return CommandResult(worker.id, self._position(self.save(worker)), created=False)

    def record_worker_leaving(self, worker_id: UUID, kind: str, ctx: CommandContext) -> None:
        """Record a worker's own report that it is draining or has left; repeats are no-ops."""
        worker: Worker = self._get(worker_id, Worker, "worker", None)
        if kind == "draining":
            changed = worker.status not in ("lost", "gone") and worker.drain(
                "worker is shutting down", ctx
            )
        else:
            changed = worker.deregister("worker stopped", ctx)
        if changed:
            self.save(worker)

    def register_worker_once(
        self, worker_id: UUID, profile: dict[str, Any], ctx: CommandContext
    ) -> bool:
        """Record a worker's registration from the bus; a repeat is a no-op. True if new."""
        if self._exists(worker_id):
            return False
        try:
            self.register_worker(
                name=str(profile.get("name") or worker_id),
                hostname=str(profile.get("hostname") or "unknown"),
                executors=list(profile.get("executors") or ["shell"]),
                queues=list(profile.get("queues") or ["default"]),
                labels=dict(profile.get("labels") or {}),
                max_concurrent_tasks=int(profile.get("max_concurrent_tasks") or 1),
                ctx=ctx,
                worker_id=worker_id,
            )
        except IntegrityError:
            return False  # another dispatcher recorded it first
        return True

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
                if run.is_finished or run.status in ("pending", "retrying"):
                    continue
                if run.worker_id != worker_id:
                    continue
                if run.requeue_after_worker_lost(max_recoveries, _run_context(run, actor, now)):
                    requeued.append(run.id)
                touched.append(run)
        if touched:
            try:
                self.save(*touched)
            except IntegrityError:
                return []  # another dispatcher decided first; the log has its decision
        return requeued

    def time_out_runs(
        self, run_ids: Sequence[UUID], error: str, actor: str, now: datetime
    ) -> list[UUID]:
        """End overrunning attempts as timed out, in one save; returns those recorded."""
        runs = []
        for run_id in run_ids:
            run = self.get_run(run_id)
            if run.is_finished or run.status in ("pending", "retrying"):
                continue
            run.time_out(error, _run_context(run, actor, now))
            runs.append(run)
        if not runs:
            return []
        try:
            self.save(*runs)
        except IntegrityError:
            return []
        return [run.id for run in runs]

    def get_worker(self, worker_id: UUID, version: int | None = None) -> Worker:
        """Load a worker from its events."""
        return self._get(worker_id, Worker, "worker", version)

    # Helpers

    def _check_upstreams(self, task_id: UUID, name: str, upstreams: Sequence[str]) -> None:
        # Upstreams arrive as task UUIDs (the API resolves numbers and names first).
        for ref in upstreams:
            upstream_id = parse_uuid(ref)
            if upstream_id == task_id:
                raise InvalidFieldError("depends_on", f"task {name!r} cannot depend on itself")
            try:
                upstream = self.get_task(upstream_id) if upstream_id else None
            except NotFoundError:
                upstream = None
            if upstream is None or upstream.status == "deleted":
                raise InvalidFieldError("depends_on", f"no task {ref!r}")
        cycle = self._cycle_through(task_id, name, upstreams)
        if cycle:
            raise InvalidFieldError("depends_on", f"would make a cycle: {' -> '.join(cycle)}")

    def _cycle_through(self, task_id: UUID, name: str, upstreams: Sequence[str]) -> list[str]:
        """The names along a path from the task through its upstreams back to it, if any."""
        seen: set[UUID] = set()

        def walk(current: UUID, path: list[str]) -> list[str]:
            if current == task_id:
                return [*path, name]
            if current in seen:
                return []
            seen.add(current)
            task = self.get_task(current)  # each task is loaded once
            for ref in task.spec.get("depends_on") or []:
                if found := walk(UUID(ref), [*path, task.name]):
                    return found
            return []

        for ref in upstreams:
            if found := walk(UUID(ref), [name]):
                return found
        return []

    def _claim_name(self, name: str, task_id: UUID, ctx: CommandContext) -> TaskName:
        try:
            index: TaskName = self.repository.get(TaskName.id_for(name))
        except AggregateNotFoundError:
            return TaskName.create(name, task_id, ctx)
        index.reserve(task_id, ctx)
        return index

    def _save_or_name_taken(self, name: str, *aggregates: Any) -> int | None:
        try:
            return self._position(self.save(*aggregates))
        except IntegrityError:
            # The name index was claimed concurrently between our read and our save.
            raise TaskNameTakenError(name) from None

    def _get(self, aggregate_id: UUID, kind: type[Any], label: str, version: int | None) -> Any:
        try:
            aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError(label, aggregate_id) from None
        except Exception as error:  # a stored event it cannot replay: say so, do not crash
            raise AggregateUnreadableError(label, aggregate_id, describe(error)) from error
        if not isinstance(aggregate, kind):
            raise NotFoundError(label, aggregate_id)
        return aggregate

    def _exists(self, aggregate_id: UUID) -> bool:
        # The stored row is enough: an event that cannot be decoded still exists.
        return bool(self.recorder.select_events(aggregate_id, lte=1, limit=1))

    @staticmethod
    def _position(recordings: list[Recording[UUID]]) -> int | None:
        return recordings[-1].notification.id if recordings else None


def _plain(value: Any) -> str:
    plaintext = secret_plaintext(value)
    return str(value) if plaintext is None else plaintext


def uuid5_of(aggregate_id: UUID) -> UUID:
    """A deterministic correlation id for decisions not caused by a request."""
    return uuid5(NAMESPACE_URL, f"/decisions/{aggregate_id}")


def _run_context(run: TaskRun, actor: str, now: datetime) -> CommandContext:
    # Decisions about a run stay in the correlation of the request that started it.
    return CommandContext(
        actor=actor, now=now, correlation_id=run.correlation_id, causation_id=run.id
    )


def _apply_report(
    run: TaskRun, report: Report, ctx: CommandContext, draw: Callable[[], float]
) -> ReportOutcome:
    if report.kind == "started":
        return run.record_started(
            report.attempt,
            report.worker_id,
            report.pid,
            ctx,
            hostname=report.hostname,
            started_at=report.started_at,
        )
    # A final report repeats its attempt's start, recorded from it if not heard yet.
    start = AttemptStart(report.worker_id, report.pid, report.hostname, report.started_at)
    if report.kind == "succeeded":
        end = AttemptEnd(True, report.exit_code, report.duration_seconds, report.output)
        return run.record_end(report.attempt, end, ctx, start)
    task = run.task
    delay = backoff_delay(
        run.failures + 1,
        float(task.get("retry_delay_seconds") or 0),
        float(task.get("retry_backoff") or 1),
        float(task.get("retry_max_delay_seconds") or 0),
        draw(),
    )
    end = AttemptEnd(
        False,
        report.exit_code,
        report.duration_seconds,
        report.output,
        report.error or "failed",
        report.timed_out,
    )
    return run.record_end(report.attempt, end, ctx, start, retry_delay_seconds=delay)
