"""Where each event of one aggregate sits in the global log (its notification id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from projections.ports import Database

# The eventsourcing recorders keep the log position in different places: PostgreSQL has a
# notification_id column; SQLite uses the rowid of `stored_events` and stores ids as hex.
POSITIONS_SQL = {
    "postgres": (
        "SELECT originator_version AS version, notification_id AS position "
        "FROM scheduler_events WHERE originator_id = %(id)s"
    ),
    "sqlite": (
        "SELECT originator_version AS version, rowid AS position "
        "FROM stored_events WHERE originator_id = %(id)s"
    ),
}


def event_positions(database: Database, aggregate_id: UUID) -> dict[int, int]:
    """Aggregate version -> log position, for every stored event of the aggregate."""
    key: object = aggregate_id if database.dialect == "postgres" else aggregate_id.hex
    rows = database.query(POSITIONS_SQL[database.dialect], {"id": key})
    return {int(row["version"]): int(row["position"]) for row in rows}


class AggregateLog:
    """One aggregate's events with their log positions: what a quarantine retry re-applies."""

    def __init__(self, events_of: Callable[[UUID], list[Any]], database: Database) -> None:
        self._events_of = events_of  # SchedulerApp.aggregate_events: never fails on a row
        self._db = database

    def __call__(self, aggregate_id: Any) -> list[tuple[int, Any]]:
        """Oldest first; an id that is not a UUID has no events."""
        if not isinstance(aggregate_id, UUID):
            return []
        positions = event_positions(self._db, aggregate_id)
        return [
            (positions.get(event.originator_version, 0), event)
            for event in self._events_of(aggregate_id)
        ]
