"""The `runs` read table: one row per run with its latest status and outcome."""

from __future__ import annotations

from typing import Any

from domain.namespace import namespace_of
from domain.retention import Retention
from domain.statuses import AttemptStatus
from domain.task_run import ATTEMPT_ENDINGS, TaskRun
from projections.base import Projection, handles, to_json
from projections.ports import Tx

INSERT_RUN = """
INSERT INTO runs (id, task_uuid, task_name, task_version, status, attempt, trigger, nominal_time,
                  priority, params, requested_at, reason, correlation_id, position,
                  parent_run_id, shard_index, shard_total, namespace)
VALUES (%(id)s, %(task_uuid)s, %(task_name)s, %(task_version)s, 'pending', 0, %(trigger)s,
        %(nominal_time)s, %(priority)s, %(params)s, %(at)s, %(reason)s, %(correlation_id)s,
        %(position)s, %(parent_run_id)s, %(shard_index)s, %(shard_total)s, %(namespace)s)
ON CONFLICT (id) DO NOTHING
"""
MARK_ASSIGNED = """
UPDATE runs SET status = 'assigned', worker_id = %(worker_id)s, attempt = %(attempt)s,
                assigned_at = %(at)s, reason = NULL
WHERE id = %(id)s
"""
# A start heard after the run ended (it was cancelled first) is recorded, status unchanged.
MARK_STARTED = """
UPDATE runs SET status = CASE WHEN status = 'assigned' THEN 'running' ELSE status END,
                started_at = %(at)s
WHERE id = %(id)s
"""
MARK_FANNED_OUT = """
UPDATE runs SET status = 'running', started_at = %(at)s, shard_total = %(total)s, reason = NULL
WHERE id = %(id)s
"""
MARK_REQUEUED = """
UPDATE runs SET status = 'pending', worker_id = NULL, started_at = NULL, reason = %(reason)s
WHERE id = %(id)s
"""
MARK_RETRYING = """
UPDATE runs SET status = 'retrying', worker_id = NULL, exit_code = %(exit_code)s,
                error = %(error)s, output = %(output)s, duration_seconds = %(duration)s,
                reason = %(reason)s
WHERE id = %(id)s
"""
MARK_SKIPPED = """
UPDATE runs SET status = 'skipped', finished_at = %(at)s, reason = %(reason)s
WHERE id = %(id)s
"""
MARK_CANCELLED = """
UPDATE runs SET status = 'cancelled', finished_at = %(at)s, error = %(error)s
WHERE id = %(id)s
"""
MARK_TIMED_OUT = """
UPDATE runs SET status = 'timed_out', finished_at = %(at)s, error = %(error)s,
                exit_code = COALESCE(%(exit_code)s, exit_code),
                duration_seconds = COALESCE(%(duration)s, duration_seconds),
                output = COALESCE(%(output)s, output)
WHERE id = %(id)s
"""
MARK_REPORTED = """
UPDATE runs SET exit_code = %(exit_code)s, duration_seconds = %(duration)s, output = %(output)s
WHERE id = %(id)s AND attempt = %(attempt)s
"""
# The output so far, only while the attempt it came from is the run's and still running.
MARK_OUTPUT = """
UPDATE runs SET output = %(output)s
WHERE id = %(id)s AND attempt = %(attempt)s AND status = 'running'
"""
MARK_WAITING = """
UPDATE runs SET reason = %(reason)s WHERE id = %(id)s AND status IN ('pending', 'retrying')
"""
MARK_UPSTREAM_FAILED = """
UPDATE runs SET status = 'upstream_failed', finished_at = %(at)s, reason = %(reason)s,
                error = %(reason)s
WHERE id = %(id)s
"""
MARK_FINISHED = """
UPDATE runs SET status = %(status)s, finished_at = %(at)s, exit_code = %(exit_code)s,
                duration_seconds = %(duration)s, output = %(output)s, error = %(error)s
WHERE id = %(id)s
"""


INSERT_ATTEMPT = """
INSERT INTO run_attempts (run_id, attempt, worker_id, status, assigned_at)
VALUES (%(id)s, %(attempt)s, %(worker_id)s, 'assigned', %(at)s)
ON CONFLICT (run_id, attempt) DO NOTHING
"""
ATTEMPT_STARTED = """
UPDATE run_attempts SET status = CASE WHEN status = 'assigned' THEN 'running' ELSE status END,
                        started_at = %(at)s
WHERE run_id = %(id)s AND attempt = %(attempt)s
"""
ATTEMPT_ENDED = """
UPDATE run_attempts SET status = %(status)s, finished_at = %(at)s, exit_code = %(exit_code)s,
                        error = %(error)s, duration_seconds = %(duration)s, output = %(output)s
WHERE run_id = %(id)s AND attempt = %(attempt)s AND finished_at IS NULL
"""
ATTEMPT_REPORTED = """
UPDATE run_attempts SET exit_code = %(exit_code)s, duration_seconds = %(duration)s,
                        output = %(output)s
WHERE run_id = %(id)s AND attempt = %(attempt)s
"""
# Retention.Applied: the finished runs older than the window leave, with their attempts.
FORGET_ATTEMPTS = """
DELETE FROM run_attempts WHERE run_id IN (
    SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < %(cutoff)s)
"""
FORGET_RUNS = "DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < %(cutoff)s"
ATTEMPT_STATUS: dict[type[Any], AttemptStatus] = {
    event: event.attempt_status for event in ATTEMPT_ENDINGS
}


class RunsProjection(Projection):
    """Keeps the runs table."""

    name = "runs"
    tables = ("runs", "run_attempts")

    @handles(TaskRun.Requested, TaskRun.ShardRequested)
    def run_requested(self, event: TaskRun.Requested, position: int, tx: Tx) -> None:
        tx.execute(
            INSERT_RUN,
            {
                "id": event.originator_id,
                "task_uuid": event.task_id,
                "task_name": event.task["name"],
                "namespace": namespace_of(event.task),
                "task_version": event.task_version,
                "trigger": event.trigger,
                "nominal_time": event.nominal_time,
                "priority": event.task.get("priority", "normal"),
                "params": to_json(event.params),
                "at": event.timestamp,
                "reason": "waiting for the dispatcher to give it to a worker",
                "correlation_id": event.metadata.get("correlation_id"),
                "position": position,
                "parent_run_id": getattr(event, "parent_run_id", None),
                "shard_index": getattr(event, "shard_index", None),
                "shard_total": getattr(event, "shard_total", None),
            },
        )

    @handles(TaskRun.Assigned)
    def run_assigned(self, event: TaskRun.Assigned, position: int, tx: Tx) -> None:
        tx.execute(
            MARK_ASSIGNED,
            {
                "id": event.originator_id,
                "worker_id": event.worker_id,
                "attempt": event.attempt,
                "at": event.timestamp,
            },
        )

    @handles(TaskRun.Started)
    def run_started(self, event: TaskRun.Started, position: int, tx: Tx) -> None:
        tx.execute(MARK_STARTED, {"id": event.originator_id, "at": started_at(event)})

    @handles(TaskRun.Succeeded, TaskRun.Failed)
    def run_finished(self, event: Any, position: int, tx: Tx) -> None:
        failed = isinstance(event, TaskRun.Failed)
        tx.execute(
            MARK_FINISHED,
            {
                "id": event.originator_id,
                "status": "failed" if failed else "succeeded",
                "at": event.timestamp,
                "exit_code": event.exit_code,
                "duration": event.duration_seconds,
                "output": event.output,
                "error": event.error if failed else None,
            },
        )

    @handles(TaskRun.Requeued)
    def run_requeued(self, event: TaskRun.Requeued, position: int, tx: Tx) -> None:
        reason = f"attempt {event.attempt} requeued: {event.reason}; waiting for a worker"
        tx.execute(MARK_REQUEUED, {"id": event.originator_id, "reason": reason})

    @handles(TaskRun.TimedOut)
    def run_timed_out(self, event: TaskRun.TimedOut, position: int, tx: Tx) -> None:
        tx.execute(
            MARK_TIMED_OUT,
            {
                "id": event.originator_id,
                "at": event.timestamp,
                "error": event.error,
                "exit_code": event.exit_code,
                "duration": event.duration_seconds,
                "output": event.output,
            },
        )

    @handles(TaskRun.AttemptReported)
    def run_attempt_reported(self, event: TaskRun.AttemptReported, position: int, tx: Tx) -> None:
        """A cancelled or timed-out run keeps its worker's account of the attempt."""
        params = {
            "id": event.originator_id,
            "attempt": event.attempt,
            "exit_code": event.exit_code,
            "duration": event.duration_seconds,
            "output": event.output,
        }
        tx.execute(MARK_REPORTED, params)
        tx.execute(ATTEMPT_REPORTED, params)

    @handles(TaskRun.OutputReported)
    def run_output_reported(self, event: TaskRun.OutputReported, position: int, tx: Tx) -> None:
        """A running attempt's output so far (its last 4 KiB); the final report replaces it."""
        tx.execute(
            MARK_OUTPUT,
            {"id": event.originator_id, "attempt": event.attempt, "output": event.output},
        )

    @handles(TaskRun.RetryScheduled)
    def run_retry_scheduled(self, event: TaskRun.RetryScheduled, position: int, tx: Tx) -> None:
        reason = (
            f"retry backoff until {event.retry_at.isoformat()} "
            f"(attempt {event.attempt} failed: {event.error})"
        )
        tx.execute(
            MARK_RETRYING,
            {
                "id": event.originator_id,
                "exit_code": event.exit_code,
                "error": event.error,
                "output": event.output,
                "duration": event.duration_seconds,
                "reason": reason,
            },
        )

    @handles(TaskRun.Cancelled)
    def run_cancelled(self, event: TaskRun.Cancelled, position: int, tx: Tx) -> None:
        tx.execute(
            MARK_CANCELLED,
            {"id": event.originator_id, "at": event.timestamp, "error": event.reason},
        )

    @handles(TaskRun.Skipped)
    def run_skipped(self, event: TaskRun.Skipped, position: int, tx: Tx) -> None:
        tx.execute(
            MARK_SKIPPED,
            {"id": event.originator_id, "at": event.timestamp, "reason": event.reason},
        )

    @handles(TaskRun.WaitNoted)
    def run_waiting(self, event: TaskRun.WaitNoted, position: int, tx: Tx) -> None:
        tx.execute(MARK_WAITING, {"id": event.originator_id, "reason": event.reason})

    @handles(TaskRun.UpstreamFailed)
    def run_upstream_failed(self, event: TaskRun.UpstreamFailed, position: int, tx: Tx) -> None:
        tx.execute(
            MARK_UPSTREAM_FAILED,
            {"id": event.originator_id, "at": event.timestamp, "reason": event.reason},
        )

    @handles(TaskRun.FannedOut)
    def run_fanned_out(self, event: TaskRun.FannedOut, position: int, tx: Tx) -> None:
        tx.execute(
            MARK_FANNED_OUT,
            {"id": event.originator_id, "at": event.timestamp, "total": len(event.shard_run_ids)},
        )

    @handles(TaskRun.Assigned)
    def attempt_assigned(self, event: TaskRun.Assigned, position: int, tx: Tx) -> None:
        """Every assignment opens an attempt row."""
        tx.execute(
            INSERT_ATTEMPT,
            {
                "id": event.originator_id,
                "attempt": event.attempt,
                "worker_id": event.worker_id,
                "at": event.timestamp,
            },
        )

    @handles(TaskRun.Started)
    def attempt_started(self, event: TaskRun.Started, position: int, tx: Tx) -> None:
        tx.execute(
            ATTEMPT_STARTED,
            {"id": event.originator_id, "attempt": event.attempt, "at": started_at(event)},
        )

    @handles(*ATTEMPT_STATUS)
    def attempt_ended(self, event: Any, position: int, tx: Tx) -> None:
        """An attempt ends with the run's outcome, a retry, a timeout, a cancel or a lost worker."""
        tx.execute(
            ATTEMPT_ENDED,
            {
                "id": event.originator_id,
                "attempt": event.attempt,
                "status": ATTEMPT_STATUS[type(event)],
                "at": event.timestamp,
                "exit_code": getattr(event, "exit_code", None),
                "error": getattr(event, "error", None) or getattr(event, "reason", None),
                "duration": getattr(event, "duration_seconds", None),
                "output": getattr(event, "output", None),
            },
        )

    @handles(Retention.Applied)
    def retention_applied(self, event: Retention.Applied, position: int, tx: Tx) -> None:
        """Runs that finished before the cutoff leave, with their attempts (docs/retention.md)."""
        tx.execute(FORGET_ATTEMPTS, {"cutoff": event.cutoff})
        tx.execute(FORGET_RUNS, {"cutoff": event.cutoff})


def started_at(event: TaskRun.Started) -> Any:
    """When the attempt started: the worker's time (v2), else when the start was recorded."""
    return event.started_at or event.timestamp
