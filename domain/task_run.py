"""The TaskRun aggregate: one occurrence of a task, from request to outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.aggregate import SchedulerAggregate
from domain.attempt import AttemptEnd, AttemptStart
from domain.context import CommandContext
from domain.errors import IllegalTransitionError, InvalidFieldError
from domain.retry import RetryPolicy
from domain.secrets import is_sealed, is_secret_name
from domain.statuses import TERMINAL, AttemptStatus, ReportOutcome, RunStatus
from domain.task_spec import with_timing_fields

TRIGGERS = frozenset({"cron", "manual", "retry", "dependency", "backfill"})


class TaskRun(SchedulerAggregate):
    """A run's life: requested, assigned per attempt, started, then succeeded or failed."""

    TOPIC = "scheduler:TaskRun"

    class Created(SchedulerAggregate.Created):
        # Unused: every TaskRun starts with the named event below.
        TOPIC = "scheduler:TaskRun.Created"

    class Requested(SchedulerAggregate.Created):
        TOPIC = "scheduler:TaskRun.Requested"
        status: ClassVar[RunStatus] = RunStatus.PENDING
        class_version = 2
        task_id: UUID
        task_version: int
        task: dict[str, Any]
        trigger: str
        nominal_time: datetime | None
        params: dict[str, Any]  # a secret one sealed: {"enc": "v1:..."} (domain/secrets.py)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 snapshots of the task name every timing field: v1 had cron only."""
            with_timing_fields(state["task"])

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.task_id = self.task_id
            aggregate.task_version = self.task_version
            aggregate.task = dict(self.task)
            aggregate.trigger = self.trigger
            aggregate.nominal_time = self.nominal_time
            aggregate.params = dict(self.params)
            aggregate.status = self.status
            aggregate.attempt = 0
            aggregate.worker_id = None
            aggregate.correlation_id = UUID(self.metadata["correlation_id"])
            # The run's later events (decisions, reports) continue the trace it began in.
            aggregate.traceparent = self.metadata.get("traceparent")
            aggregate.recoveries = 0
            aggregate.failures = 0
            aggregate.retry_at = None
            aggregate.wait_code = None
            aggregate.shard_run_ids = []
            aggregate.parent_run_id = None
            aggregate.started_attempt = 0
            aggregate.reported_attempt = 0
            aggregate.output_sequence = 0

    class ShardRequested(Requested):
        """One worker's share of a broadcast run."""

        TOPIC = "scheduler:TaskRun.ShardRequested"
        parent_run_id: UUID
        shard_index: int
        shard_total: int
        target_worker_id: UUID

        def apply(self, aggregate: TaskRun) -> None:
            TaskRun.Requested.apply(self, aggregate)
            aggregate.parent_run_id = self.parent_run_id

    class FannedOut(SchedulerAggregate.Event):
        """A broadcast run became one shard run per live eligible worker."""

        TOPIC = "scheduler:TaskRun.FannedOut"
        status: ClassVar[RunStatus] = RunStatus.RUNNING
        shard_run_ids: list[UUID]

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status
            aggregate.shard_run_ids = list(self.shard_run_ids)

    class WaitNoted(SchedulerAggregate.Event):
        """Why a pending run is not going out yet (once per cause)."""

        TOPIC = "scheduler:TaskRun.Waiting"  # its name before the past-tense rename
        code: str
        reason: str

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.wait_code = self.code

    class UpstreamFailed(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.UpstreamFailed"
        status: ClassVar[RunStatus] = RunStatus.UPSTREAM_FAILED
        upstream_task_id: UUID
        upstream_run_id: UUID
        upstream_status: str
        reason: str

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status

    class Assigned(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.Assigned"
        status: ClassVar[RunStatus] = RunStatus.ASSIGNED
        worker_id: UUID
        attempt: int

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status
            aggregate.worker_id = self.worker_id
            aggregate.attempt = self.attempt
            aggregate.wait_code = None
            aggregate.output_sequence = 0

    class Started(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.Started"
        class_version = 2
        attempt: int
        worker_id: UUID
        pid: int | None
        hostname: str | None
        started_at: datetime | None  # the worker's clock; null on v1 events

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 carries the worker's host and start time: v1 had neither."""
            state["hostname"] = None
            state["started_at"] = None

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.started_attempt = self.attempt
            # A start recorded after the run ended (it was cancelled first) changes no status.
            if aggregate.status == RunStatus.ASSIGNED:
                aggregate.status = RunStatus.RUNNING

    class Succeeded(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.Succeeded"
        status: ClassVar[RunStatus] = RunStatus.SUCCEEDED
        attempt_status: ClassVar[AttemptStatus] = AttemptStatus.SUCCEEDED
        attempt: int
        exit_code: int | None
        duration_seconds: float
        output: str

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status
            aggregate.reported_attempt = self.attempt

    class Failed(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.Failed"
        status: ClassVar[RunStatus] = RunStatus.FAILED
        attempt_status: ClassVar[AttemptStatus] = AttemptStatus.FAILED
        attempt: int
        exit_code: int | None
        error: str
        duration_seconds: float
        output: str

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status
            aggregate.reported_attempt = self.attempt

    class RetryScheduled(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.RetryScheduled"
        status: ClassVar[RunStatus] = RunStatus.RETRYING
        attempt_status: ClassVar[AttemptStatus] = AttemptStatus.FAILED
        attempt: int
        exit_code: int | None
        error: str
        duration_seconds: float
        output: str
        retry_at: datetime

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status
            aggregate.worker_id = None
            aggregate.failures += 1
            aggregate.retry_at = self.retry_at
            aggregate.reported_attempt = self.attempt

    class TimedOut(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.TimedOut"
        status: ClassVar[RunStatus] = RunStatus.TIMED_OUT
        attempt_status: ClassVar[AttemptStatus] = AttemptStatus.TIMED_OUT
        class_version = 2
        attempt: int
        error: str
        # The worker's account when its own timeout ended the attempt; null when the
        # dispatcher's deadline decided it (the account may follow as AttemptReported).
        exit_code: int | None
        duration_seconds: float | None
        output: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 keeps the worker's exit code, duration and output: v1 dropped them."""
            state["exit_code"] = None
            state["duration_seconds"] = None
            state["output"] = None

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status
            if self.output is not None:
                aggregate.reported_attempt = self.attempt

    class Cancelled(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.Cancelled"
        status: ClassVar[RunStatus] = RunStatus.CANCELLED
        attempt_status: ClassVar[AttemptStatus] = AttemptStatus.CANCELLED
        attempt: int
        reason: str

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status

    class Skipped(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.Skipped"
        status: ClassVar[RunStatus] = RunStatus.SKIPPED
        reason: str

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status

    class Requeued(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.Requeued"
        status: ClassVar[RunStatus] = RunStatus.PENDING
        attempt_status: ClassVar[AttemptStatus] = AttemptStatus.WORKER_LOST
        attempt: int
        reason: str

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.status = self.status
            aggregate.worker_id = None
            aggregate.recoveries += 1

    class AttemptReported(SchedulerAggregate.Event):
        """The worker's account of an attempt that the run had already ended without it."""

        TOPIC = "scheduler:TaskRun.AttemptReported"
        attempt: int
        exit_code: int | None
        error: str | None
        duration_seconds: float
        output: str

        def apply(self, aggregate: TaskRun) -> None:
            # The run's outcome stands (cancelled, timed out); only the account is added.
            aggregate.reported_attempt = self.attempt

    class OutputReported(SchedulerAggregate.Event):
        """The output so far of a running attempt (a bounded tail; its final one ends it)."""

        TOPIC = "scheduler:TaskRun.OutputReported"
        attempt: int
        sequence: int  # the worker's count of this attempt's output reports
        output: str

        def apply(self, aggregate: TaskRun) -> None:
            aggregate.output_sequence = self.sequence

    class StaleReportRejected(SchedulerAggregate.Event):
        TOPIC = "scheduler:TaskRun.StaleReportRejected"
        report: str
        attempt: int
        current_attempt: int

        def apply(self, aggregate: TaskRun) -> None:
            # A rejected report changes nothing; the event is the audit record.
            pass

    if TYPE_CHECKING:  # annotations only: the aggregate is not a dataclass
        task_id: UUID
        task_version: int
        task: dict[str, Any]
        trigger: str
        params: dict[str, Any]
        status: RunStatus
        attempt: int
        worker_id: UUID | None
        correlation_id: UUID
        traceparent: str | None  # the trace context of its request, None if untraced
        recoveries: int
        failures: int
        retry_at: datetime | None
        wait_code: str | None
        shard_run_ids: list[UUID]
        parent_run_id: UUID | None
        nominal_time: datetime | None
        started_attempt: int  # the attempt whose Started is recorded (0: none yet)
        reported_attempt: int  # the attempt whose end its worker's report recorded
        output_sequence: int  # the newest output report recorded (per attempt: reset on assign)

    @staticmethod
    def shard_id(parent_run_id: UUID, index: int) -> UUID:
        """The run id of one shard of a broadcast run."""
        return uuid5(NAMESPACE_URL, f"/runs/{parent_run_id}/shards/{index}")

    @staticmethod
    def dependency_id(correlation_id: UUID, task_id: UUID) -> UUID:
        """The run id of a downstream task in a batch: each task runs at most once per batch."""
        return uuid5(NAMESPACE_URL, f"/batches/{correlation_id}/tasks/{task_id}")

    @staticmethod
    def idempotent_id(task_id: UUID, key: str) -> UUID:
        """The run id for a trigger with an Idempotency-Key: a repeat maps to the same run."""
        return uuid5(NAMESPACE_URL, f"/tasks/{task_id}/idempotency/{key}")

    @staticmethod
    def fire_id(task_id: UUID, nominal_time: datetime) -> UUID:
        """The run id of a cron slot: two dispatchers firing one slot collide on it."""
        return uuid5(
            NAMESPACE_URL, f"/tasks/{task_id}/fires/{nominal_time.astimezone(UTC).isoformat()}"
        )

    @classmethod
    def request(
        cls,
        run_id: UUID,
        *,
        task_id: UUID,
        task_version: int,
        task: dict[str, Any],
        trigger: str,
        ctx: CommandContext,
        nominal_time: datetime | None = None,
        params: dict[str, Any] | None = None,
    ) -> TaskRun:
        """Request a run of a task, snapshotting its definition at this version.

        Raises:
            InvalidFieldError: a secret param is not sealed (the log must never hold it).
        """
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {trigger!r}")
        for name, value in (params or {}).items():
            if not is_sealed(value) and (not isinstance(value, str) or is_secret_name(name)):
                raise InvalidFieldError(
                    f"params.{name}", "a secret value must be sealed before it is stored"
                )
        return cls._create_with(
            cls.Requested,
            run_id,
            ctx,
            task_id=task_id,
            task_version=task_version,
            task=task,
            trigger=trigger,
            nominal_time=nominal_time,
            params=dict(params or {}),
        )

    def fan_out(self, worker_ids: list[UUID], ctx: CommandContext) -> list[TaskRun]:
        """Split a pending broadcast run into one shard run per worker, told index and total."""
        if self.status != RunStatus.PENDING or self.shard_run_ids:
            raise IllegalTransitionError(f"run {self.id}", self.status, "fan out")
        shard_ctx = CommandContext(
            actor=ctx.actor,
            now=ctx.now,
            correlation_id=self.correlation_id,
            causation_id=self.id,
            traceparent=self.traceparent,
        )
        total = len(worker_ids)
        shards = [
            TaskRun._create_with(
                TaskRun.ShardRequested,
                TaskRun.shard_id(self.id, index),
                shard_ctx,
                task_id=self.task_id,
                task_version=self.task_version,
                task=self.task,
                trigger=self.trigger,
                nominal_time=self.nominal_time,
                params=self.params,
                parent_run_id=self.id,
                shard_index=index,
                shard_total=total,
                target_worker_id=worker_id,
            )
            for index, worker_id in enumerate(worker_ids)
        ]
        self._record(self.FannedOut, ctx, shard_run_ids=[shard.id for shard in shards])
        return shards

    def finish_broadcast(self, shard_statuses: dict[UUID, str], ctx: CommandContext) -> None:
        """End a fanned-out run: succeeded if every shard succeeded, else failed naming them."""
        if self.status != RunStatus.RUNNING or not self.shard_run_ids:
            raise IllegalTransitionError(f"run {self.id}", self.status, "finish broadcast")
        bad = {
            i: shard_statuses[r]
            for i, r in enumerate(self.shard_run_ids)
            if shard_statuses[r] != "succeeded"
        }
        if not bad:
            self._record(
                self.Succeeded, ctx, attempt=0, exit_code=0, duration_seconds=0.0, output=""
            )
            return
        listed = ", ".join(f"shard {i} {status}" for i, status in bad.items())
        self._record(
            self.Failed,
            ctx,
            attempt=0,
            exit_code=None,
            error=f"{len(bad)} of {len(self.shard_run_ids)} shards did not succeed: {listed}",
            duration_seconds=0.0,
            output="",
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry fields of the definition the run was requested with."""
        return RetryPolicy.of(self.task)

    @property
    def retries_left(self) -> int:
        """Retries still allowed by the task's retry_count."""
        return max(self.retry_policy.count - self.failures, 0)

    @property
    def is_finished(self) -> bool:
        """Whether the run has reached an outcome that nothing changes any more."""
        return self.status in TERMINAL

    def assign(self, worker_id: UUID, ctx: CommandContext) -> int:
        """Give the run's next attempt to a worker; returns the attempt number (the fence)."""
        retry_due = self.status == RunStatus.RETRYING and (
            self.retry_at is None or ctx.now >= self.retry_at
        )
        if self.status != RunStatus.PENDING and not retry_due:
            raise IllegalTransitionError(f"run {self.id}", self.status, "assign")
        attempt = self.attempt + 1
        self._record(self.Assigned, ctx, worker_id=worker_id, attempt=attempt)
        return attempt

    def record_started(
        self,
        attempt: int,
        worker_id: UUID,
        pid: int | None,
        ctx: CommandContext,
        *,
        hostname: str | None = None,
        started_at: datetime | None = None,
    ) -> ReportOutcome:
        """Record that the worker started the attempt, even when it is heard of late.

        A start already recorded (by this report's earlier copy, or by the attempt's final
        report, which carries the start too) is a duplicate.
        """
        fenced = self._fence("started", attempt, self.started_attempt, ctx)
        if fenced:
            return fenced
        self._record_start(attempt, AttemptStart(worker_id, pid, hostname, started_at), ctx)
        return ReportOutcome.APPLIED

    def record_succeeded(
        self,
        attempt: int,
        exit_code: int | None,
        duration_seconds: float,
        output: str,
        ctx: CommandContext,
        start: AttemptStart | None = None,
    ) -> ReportOutcome:
        """Record the attempt's success (and its start, if that was not heard yet)."""
        end = AttemptEnd(True, exit_code, duration_seconds, output)
        return self.record_end(attempt, end, ctx, start)

    def record_failed(
        self,
        attempt: int,
        exit_code: int | None,
        error: str,
        duration_seconds: float,
        output: str,
        ctx: CommandContext,
        retry_delay_seconds: float | None = None,
        timed_out: bool = False,
        start: AttemptStart | None = None,
    ) -> ReportOutcome:
        """Record the attempt's failure; with retries left and a delay, schedule the retry."""
        end = AttemptEnd(False, exit_code, duration_seconds, output, error, timed_out)
        return self.record_end(attempt, end, ctx, start, retry_delay_seconds)

    def record_end(
        self,
        attempt: int,
        end: AttemptEnd,
        ctx: CommandContext,
        start: AttemptStart | None = None,
        retry_delay_seconds: float | None = None,
    ) -> ReportOutcome:
        """Record how the worker says the attempt ended, whatever was heard before.

        Its start is recorded first when no start report was (so every attempt that ended has
        a Started before its end), then the outcome. When the run already ended by a decision
        (cancelled, or timed out by the deadline), the outcome stands and the worker's account
        is kept as AttemptReported. A second report of the same end is a duplicate.
        """
        kind = "succeeded" if end.succeeded else "failed"
        fenced = self._fence(kind, attempt, self.reported_attempt, ctx)
        if fenced:
            return fenced
        if self.started_attempt != attempt:
            # Unfenced, the run is out on a worker or ended by a decision: worker_id is set.
            self._record_start(attempt, start or AttemptStart(cast(UUID, self.worker_id)), ctx)
        if self.is_finished:
            self._record(
                self.AttemptReported,
                ctx,
                attempt=attempt,
                exit_code=end.exit_code,
                error=end.error,
                duration_seconds=end.duration_seconds,
                output=end.output,
            )
            return ReportOutcome.KEPT
        if end.succeeded:
            self._record(
                self.Succeeded,
                ctx,
                attempt=attempt,
                exit_code=end.exit_code,
                duration_seconds=end.duration_seconds,
                output=end.output,
            )
        elif retry_delay_seconds is not None and self.retries_left > 0:
            self._record(
                self.RetryScheduled,
                ctx,
                attempt=attempt,
                exit_code=end.exit_code,
                error=end.error or "failed",
                duration_seconds=end.duration_seconds,
                output=end.output,
                retry_at=ctx.now + timedelta(seconds=retry_delay_seconds),
            )
        elif end.timed_out:
            self._record(
                self.TimedOut,
                ctx,
                attempt=attempt,
                error=end.error or "timed out",
                exit_code=end.exit_code,
                duration_seconds=end.duration_seconds,
                output=end.output,
            )
        else:
            self._record(
                self.Failed,
                ctx,
                attempt=attempt,
                exit_code=end.exit_code,
                error=end.error or "failed",
                duration_seconds=end.duration_seconds,
                output=end.output,
            )
        return ReportOutcome.APPLIED

    def _record_start(self, attempt: int, start: AttemptStart, ctx: CommandContext) -> None:
        self._record(
            self.Started,
            ctx,
            attempt=attempt,
            worker_id=start.worker_id,
            pid=start.pid,
            hostname=start.hostname,
            started_at=start.started_at,
        )

    def record_output(
        self, attempt: int, sequence: int, output: str, ctx: CommandContext
    ) -> ReportOutcome:
        """Record the output so far of the running attempt; an older or later one says nothing.

        Progress from a superseded attempt is stale like any report. One that comes before
        the attempt's start, after its end, or behind a newer one already recorded (reports
        of one attempt may reach different dispatchers) is dropped as a duplicate: the next
        one, or the final report, carries at least as much.
        """
        superseded = attempt != self.attempt or self.status == RunStatus.PENDING
        if superseded or self.worker_id is None:  # _fence records it as rejected
            return self._fence("output", attempt, self.reported_attempt, ctx) or ReportOutcome.STALE
        # getattr: a run loaded from a snapshot taken before this event existed.
        behind = sequence <= getattr(self, "output_sequence", 0)
        if behind or self.started_attempt != attempt or self.status != RunStatus.RUNNING:
            return ReportOutcome.DUPLICATE
        self._record(self.OutputReported, ctx, attempt=attempt, sequence=sequence, output=output)
        return ReportOutcome.APPLIED

    def requeue_after_worker_lost(self, max_recoveries: int, ctx: CommandContext) -> bool:
        """Give an unfinished attempt of a lost worker another try, or fail after too many.

        Returns True when the run is pending again, False when it failed for good.
        """
        if self.is_finished or self.status in (RunStatus.PENDING, RunStatus.RETRYING):
            raise IllegalTransitionError(f"run {self.id}", self.status, "requeue")
        if self.recoveries >= max_recoveries:
            self._record(
                self.Failed,
                ctx,
                attempt=self.attempt,
                exit_code=None,
                error=f"worker lost {self.recoveries + 1} times; giving up (worker_lost)",
                duration_seconds=0.0,
                output="",
            )
            return False
        self._record(self.Requeued, ctx, attempt=self.attempt, reason="worker_lost")
        return True

    def skip(self, reason: str, ctx: CommandContext) -> None:
        """Decide not to run a pending run (for example, its previous run is still going)."""
        if self.status != RunStatus.PENDING:
            raise IllegalTransitionError(f"run {self.id}", self.status, "skip")
        self._record(self.Skipped, ctx, reason=reason)

    def note_waiting(self, code: str, reason: str, ctx: CommandContext) -> bool:
        """Record why a pending run is not going out; a repeat of the same cause is not."""
        if self.status not in (RunStatus.PENDING, RunStatus.RETRYING) or self.wait_code == code:
            return False
        self._record(self.WaitNoted, ctx, code=code, reason=reason)
        return True

    def fail_upstream(
        self,
        upstream_task_id: UUID,
        upstream_run_id: UUID,
        upstream_status: str,
        reason: str,
        ctx: CommandContext,
    ) -> None:
        """End a run that cannot go ahead because an upstream run in its batch failed."""
        if self.status != RunStatus.PENDING:
            raise IllegalTransitionError(f"run {self.id}", self.status, "fail for its upstream")
        self._record(
            self.UpstreamFailed,
            ctx,
            upstream_task_id=upstream_task_id,
            upstream_run_id=upstream_run_id,
            upstream_status=upstream_status,
            reason=reason,
        )

    def cancel(self, reason: str, ctx: CommandContext) -> None:
        """End the run now, whatever its state; a running attempt is told to stop."""
        if self.is_finished:
            raise IllegalTransitionError(f"run {self.id}", self.status, "cancel")
        self._record(self.Cancelled, ctx, attempt=self.attempt, reason=reason)

    def time_out(self, error: str, ctx: CommandContext) -> None:
        """End an attempt that overran its deadline, whatever its worker says later."""
        if self.is_finished or self.status in (RunStatus.PENDING, RunStatus.RETRYING):
            raise IllegalTransitionError(f"run {self.id}", self.status, "time out")
        self._record(
            self.TimedOut,
            ctx,
            attempt=self.attempt,
            error=error,
            exit_code=None,
            duration_seconds=None,
            output=None,
        )

    def _fence(
        self, report: str, attempt: int, recorded: int, ctx: CommandContext
    ) -> ReportOutcome | None:
        """Whether a report is stale (recorded as rejected) or a duplicate; None to apply it.

        `recorded` is the attempt whose report of this kind (start or end) is already in.
        """
        # A report for any attempt other than the current one comes from a superseded
        # assignment, as does one whose attempt was given up (its worker was lost): the run
        # is pending again, or ended before another attempt.
        superseded = attempt != self.attempt or self.status == RunStatus.PENDING
        if not superseded and recorded == attempt:
            return ReportOutcome.DUPLICATE
        if superseded or self.worker_id is None:
            self._record(
                self.StaleReportRejected,
                ctx,
                report=report,
                attempt=attempt,
                current_attempt=self.attempt,
            )
            return ReportOutcome.STALE
        return None


# The events that end a run, each with the terminal status it leaves.
RUN_ENDINGS: tuple[type[Any], ...] = (
    TaskRun.Succeeded,
    TaskRun.Failed,
    TaskRun.TimedOut,
    TaskRun.Cancelled,
    TaskRun.Skipped,
    TaskRun.UpstreamFailed,
)
# The events that end an attempt, each with the attempt status it leaves.
ATTEMPT_ENDINGS: tuple[type[Any], ...] = (
    TaskRun.Succeeded,
    TaskRun.Failed,
    TaskRun.RetryScheduled,
    TaskRun.TimedOut,
    TaskRun.Cancelled,
    TaskRun.Requeued,
)
