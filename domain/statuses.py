"""The status words every reader shares: of runs and their attempts, of tasks, of workers.

Each event that sets a status declares it (`TaskRun.Succeeded.status`); the projections, the
dispatcher and the API derive their maps and filters from these, never re-declare them.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """The statuses a user sees on a run."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    RETRYING = "retrying"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"


TERMINAL = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.CANCELLED,
        RunStatus.SKIPPED,
        RunStatus.UPSTREAM_FAILED,
    }
)


class AttemptStatus(StrEnum):
    """The statuses of one attempt of a run (the run_attempts table)."""

    ASSIGNED = "assigned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    WORKER_LOST = "worker_lost"


class ReportOutcome(StrEnum):
    """What recording a worker's report did."""

    APPLIED = "applied"
    KEPT = "kept"  # the run had already ended; the worker's account of the attempt is kept
    DUPLICATE = "duplicate"
    STALE = "stale"


class TaskStatus(StrEnum):
    """The statuses of a task."""

    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"


class WorkerStatus(StrEnum):
    """The statuses of a worker in the pool."""

    ACTIVE = "active"
    DRAINING = "draining"
    LOST = "lost"
    GONE = "gone"


WORKER_LEFT = frozenset({WorkerStatus.LOST, WorkerStatus.GONE})  # no longer in the pool
