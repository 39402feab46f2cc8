"""What commands answer with: the ids they touched and the log position of their events."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class CommandResult:
    """The aggregate a command touched and the position of its last event (None if none)."""

    aggregate_id: UUID
    position: int | None
    created: bool = True


@dataclass(frozen=True)
class Assignment:
    """A run given to a worker for one attempt."""

    run_id: UUID
    worker_id: UUID
    attempt: int


@dataclass(frozen=True)
class DependencyDecision:
    """A downstream task's run in a batch, caused by an upstream run that finished."""

    task_id: UUID
    batch_id: UUID  # the correlation id of the batch's root trigger
    cause_run_id: UUID
    failed_upstream: tuple[UUID, str] | None = None  # (upstream task, its final status)
    reason: str = ""
    traceparent: str | None = None  # the upstream run's trace context
