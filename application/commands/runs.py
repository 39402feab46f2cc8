"""Run commands: trigger, cancel, and worker reports recorded as run events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.commands.base import CommandsBase, run_context
from application.messages import Report
from application.results import CommandResult
from application.secrets import SecretUnreadableError, secret_plaintext
from domain.attempt import AttemptEnd, AttemptStart
from domain.context import CommandContext
from domain.errors import InvalidFieldError, NotFoundError
from domain.statuses import ReportOutcome
from domain.task_run import TaskRun

if TYPE_CHECKING:
    from domain.task import Task

logger = logging.getLogger(__name__)

REPORT_SAVE_TRIES = 5  # saves alone of one run's reports lost to other writers before giving up
BATCH_SAVE_TRIES = 3  # saves of a bulk trigger lost to a concurrent use of one of its keys


@dataclass(frozen=True)
class RunRequest:
    """One run of a bulk trigger: its params and, optionally, its idempotency key."""

    params: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


class RunCommands(CommandsBase):
    """Requests and ends of runs that an operator or a worker asks for."""

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
        sealed = self._sealer.params(task.id, params or {})
        run = task.request_run(run_id or self._new_id(), trigger, ctx, params=sealed)
        try:
            position = self._position(self.save(run))
        except IntegrityError:
            # The same idempotency key won a race in another request: same run, if same params.
            return self._idempotent_repeat(run.id, str(idempotency_key), params)
        return CommandResult(run.id, position)

    def trigger_many(
        self, task_id: UUID, ctx: CommandContext, requests: Sequence[RunRequest]
    ) -> list[CommandResult]:
        """Request many runs of one task in one save; a repeated key returns its first run.

        The common case (no key used before) checks nothing and saves at once; a key already
        taken makes that save conflict, and then every key is checked before saving again, so
        a key used with different params refuses the whole batch and saves none of it.

        Raises:
            InvalidFieldError: a key was used before (or in the batch) with different params.
        """
        task = self.get_task(task_id)
        task.ensure_can_run()
        for attempt in range(BATCH_SAVE_TRIES):
            try:
                return self._request_runs(task, ctx, requests, check_keys=attempt > 0)
            except IntegrityError:
                if attempt == BATCH_SAVE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_runs(
        self, task: Task, ctx: CommandContext, requests: Sequence[RunRequest], check_keys: bool
    ) -> list[CommandResult]:
        runs: list[TaskRun] = []
        slots: list[UUID | CommandResult] = []  # a new run's id, or the repeat's answer
        first_of_key: dict[str, RunRequest] = {}
        for index, request in enumerate(requests):
            key, name = request.idempotency_key, f"runs[{index}].idempotency_key"
            run_id = TaskRun.idempotent_id(task.id, key) if key else self._new_id()
            if key and check_keys:
                if (earlier := first_of_key.get(key)) is not None:
                    _ensure_same_params(run_id, key, earlier.params, request.params, name)
                    slots.append(CommandResult(run_id, None, created=False))
                    continue
                first_of_key[key] = request
                if self._exists(run_id):
                    slots.append(self._idempotent_repeat(run_id, key, request.params, name))
                    continue
            sealed = self._sealer.params(task.id, request.params)
            runs.append(task.request_run(run_id, "manual", ctx, params=sealed))
            slots.append(run_id)
        position = self._position(self.save(*runs)) if runs else None
        return [CommandResult(slot, position) if isinstance(slot, UUID) else slot for slot in slots]

    def _idempotent_repeat(
        self,
        run_id: UUID,
        key: str,
        params: dict[str, Any] | None,
        field_name: str = "Idempotency-Key",
    ) -> CommandResult:
        # Compared with the run's own Requested event, not a view: a lagging view must not
        # turn a conflicting repeat into a silent success. Secrets compare as plain text.
        first = self.get_run(run_id)
        given = {name: _plain(value) for name, value in (params or {}).items()}
        try:
            same = self.opener.params(first.task_id, first.params) == given
        except SecretUnreadableError as error:
            raise InvalidFieldError(
                field_name, f"cannot compare with the params of run {run_id}: {error}"
            ) from None
        if not same:
            raise _key_reused(run_id, key, field_name)
        return CommandResult(run_id, None, created=False)

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

    def get_run(self, run_id: UUID, version: int | None = None) -> TaskRun:
        """Load a run from its events."""
        return self._get(run_id, TaskRun, "run", version)

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

        def decide(
            batch: Sequence[tuple[UUID, list[Report]]],
        ) -> tuple[list[TaskRun], list[tuple[Report, ReportOutcome]]]:
            runs, outcomes = self._apply_reports(dict(batch), now)
            return [run for run in runs if run.pending_events], outcomes

        # A run lost to yet another save is loaded again; after REPORT_SAVE_TRIES the error
        # leaves its reports unacknowledged, and they come back to a dispatcher later.
        return self.save_batch(
            list(by_run.items()), decide, tries_alone=REPORT_SAVE_TRIES, raise_when_lost=True
        )

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
                ctx = run_context(run, f"worker:{report.worker_id}", now)
                outcomes.append((report, _apply_report(run, report, ctx, self._draw)))
        return runs, outcomes


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
    if report.kind == "output":
        return run.record_output(report.attempt, report.sequence, report.output, ctx)
    # A final report repeats its attempt's start, recorded from it if not heard yet.
    start = AttemptStart(report.worker_id, report.pid, report.hostname, report.started_at)
    if report.kind == "succeeded":
        end = AttemptEnd(True, report.exit_code, report.duration_seconds, report.output)
        return run.record_end(report.attempt, end, ctx, start)
    delay = run.retry_policy.delay_after(run.failures + 1, draw())
    end = AttemptEnd(
        False,
        report.exit_code,
        report.duration_seconds,
        report.output,
        report.error or "failed",
        report.timed_out,
    )
    return run.record_end(report.attempt, end, ctx, start, retry_delay_seconds=delay)


def _ensure_same_params(
    run_id: UUID, key: str, first: dict[str, Any], again: dict[str, Any], field_name: str
) -> None:
    """Two items of one batch with one key must ask for the same run."""
    if {n: _plain(v) for n, v in first.items()} != {n: _plain(v) for n, v in again.items()}:
        raise _key_reused(run_id, key, field_name)


def _key_reused(run_id: UUID, key: str, field_name: str) -> InvalidFieldError:
    return InvalidFieldError(
        field_name,
        f"{key!r} was already used for run {run_id} with different params; "
        "send the same body to get that run, or use a new key",
    )


def _plain(value: Any) -> str:
    plaintext = secret_plaintext(value)
    return str(value) if plaintext is None else plaintext
