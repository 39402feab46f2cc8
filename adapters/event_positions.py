"""Where each event of one aggregate sits in the global log (its notification id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from adapters.sql_store import StoreDatabase


def event_positions(database: StoreDatabase, aggregate_id: UUID) -> dict[int, int]:
    """Aggregate version -> log position, for every stored event of the aggregate.

    The recorders keep the position in different places (adapters/<dialect>/event_tables.py).
    """
    return database.event_tables.positions(aggregate_id)


class AggregateLog:
    """One aggregate's events with their log positions: what a quarantine retry re-applies."""

    def __init__(self, events_of: Callable[[UUID], list[Any]], database: StoreDatabase) -> None:
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
