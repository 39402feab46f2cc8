"""Past states of one aggregate, rebuilt by replaying its events through the real projections.

The events go into a scratch copy of the read tables (in memory, made by the composition
root), so a reconstructed task, run or worker has exactly the shape and rules of the live
views, with no second copy of the logic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from application.quarantine import InMemoryQuarantineLedger, QuarantineEntry
from projections.base import Projection
from projections.guard import ProjectionGuard
from projections.ports import Database
from projections.queries import ReadModel
from projections.runs import RunsProjection
from projections.tasks import TasksProjection
from projections.workers import WorkersProjection


class TimeTravel:
    """Past states of tasks, runs and workers, each replayed into a scratch copy of its view."""

    def __init__(self, scratch_database: Callable[[], Database]) -> None:
        self._scratch_database = scratch_database  # a migrated, empty copy of the read tables

    def task_state(self, events: Sequence[Any], number: int | None) -> dict[str, Any] | None:
        """The task resource after these events; `number` is the live task number."""
        with self._scratch(TasksProjection(), events) as (read, held):
            task = read.task_by_uuid(events[0].originator_id) if events else None
        if task is not None:
            task["id"] = number
        return _with_held(task, held)

    def run_state(self, events: Sequence[Any]) -> dict[str, Any] | None:
        """The run resource (with its attempts) after these events."""
        with self._scratch(RunsProjection(), events) as (read, held):
            return _with_held(read.run(events[0].originator_id) if events else None, held)

    def worker_state(self, events: Sequence[Any]) -> dict[str, Any] | None:
        """The worker resource after these events (its running count needs run events: 0)."""
        with self._scratch(WorkersProjection(), events) as (read, held):
            return _with_held(read.worker(events[0].originator_id) if events else None, held)

    @contextmanager
    def _scratch(
        self, projection: Projection, events: Sequence[Any]
    ) -> Iterator[tuple[ReadModel, list[QuarantineEntry]]]:
        """A scratch read database holding one projection's view of a few events.

        The projections' own rule applies: an event that fails is not applied, nor are the
        aggregate's events after it; what was held comes back beside the state.
        """
        database = self._scratch_database()
        ledger = InMemoryQuarantineLedger()
        try:
            with database.transaction() as tx:
                guard = ProjectionGuard(
                    projection, tx, ledger, _epoch, careful=True, is_outage=database.is_outage
                )
                for event in events:
                    # The version stands in for the log position: only order matters here.
                    guard.process(event, event.originator_version)
                guard.finish()
            yield ReadModel(database), ledger.entries(None)
        finally:
            database.close()


def _with_held(state: dict[str, Any] | None, held: list[QuarantineEntry]) -> dict[str, Any] | None:
    if state is not None and held:
        state["quarantine"] = [
            {"consumer": "time-travel", "version": e.position, "error": e.error} for e in held
        ]
    return state


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)
