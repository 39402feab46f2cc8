"""What the client returns: the API's resources as pydantic models (unknown fields kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.statuses import TERMINAL


class _Resource(BaseModel):
    # A newer server may answer with more fields: keep them, never fail on them.
    model_config = ConfigDict(extra="allow", frozen=True)


class Task(_Resource):
    """A task: `id` is its number, `uuid` its id, `version` counts its changes."""

    id: int | None
    uuid: str
    name: str
    executor: str
    command: str
    status: str
    version: int
    namespace: str = "default"
    schedule: str | None = None
    description: str = ""


class TaskPage(_Resource):
    """A page of tasks."""

    items: list[Task]
    total: int
    limit: int
    offset: int


class Run(_Resource):
    """A run of a task."""

    id: str
    task_id: int | None
    task_uuid: str
    status: str
    attempt: int
    namespace: str = "default"
    params: dict[str, str] = {}
    exit_code: int | None = None
    output: str | None = None
    error: str | None = None
    requested_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        """Whether the run has reached a status it never leaves."""
        return self.status in TERMINAL


class Triggered(_Resource):
    """A run was requested (or found again by its idempotency key: `created` is False)."""

    run_id: str
    task_id: int | None
    task_uuid: str
    status: str
    created: bool
    position: int | None


class BatchTriggered(_Resource):
    """Runs requested in bulk, in the order asked; `position` is the last batch's."""

    run_ids: list[str]
    created: list[bool]
    task_uuid: str
    position: int | None

    @classmethod
    def merge(cls, answers: list[BatchTriggered]) -> BatchTriggered:
        """The answers of consecutive batches as one, in order."""
        if not answers:
            raise ValueError("trigger_many needs at least one run")
        positions = [a.position for a in answers if a.position is not None]
        return cls(
            run_ids=[run_id for a in answers for run_id in a.run_ids],
            created=[created for a in answers for created in a.created],
            task_uuid=answers[0].task_uuid,
            position=max(positions) if positions else None,
        )


class Event(_Resource):
    """One event of the log, at its position."""

    position: int | None
    type: str
    originator_id: str
    version: int
    timestamp: datetime | None
    payload: dict[str, Any]


class EventPage(_Resource):
    """Events after a position; `next_after` continues from the last."""

    items: list[Event]
    next_after: int
    head: int
