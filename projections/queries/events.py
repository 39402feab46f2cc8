"""Queries over the queryable log's index: which positions match, and forensic views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.ports import Database
from projections.queries.paging import Where
from projections.queries.rows import as_datetime, escape_like

SELECT_INDEXED = "SELECT position FROM projection_tracking WHERE projection = 'event_index'"
ASSIGNED_AFTER_LOST = """
SELECT a.position, a.aggregate_id AS run_id, a.worker_id, a.recorded_at AS assigned_at,
       MIN(l.position) AS lost_position
FROM event_index a
JOIN event_index l ON l.aggregate_id = a.worker_id AND l.type = 'Worker.Lost'
                  AND l.position < a.position
WHERE a.type = 'TaskRun.Assigned' AND {where}
GROUP BY a.position, a.aggregate_id, a.worker_id, a.recorded_at
ORDER BY a.position LIMIT %(limit)s
"""
LOST_AT = "SELECT recorded_at FROM event_index WHERE position = %(position)s"


@dataclass(frozen=True)
class EventFilter:
    """What GET /api/events?… asks for; each field set narrows the answer (AND)."""

    type: str | None = None
    aggregate_id: str | None = None
    actor: str | None = None
    correlation_id: str | None = None
    task_id: str | None = None
    worker_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def empty(self) -> bool:
        """Whether nothing narrows the log (then the log is read directly)."""
        return all(getattr(self, name) is None for name in self.__dataclass_fields__)

    def where(self, alias: str = "") -> Where:
        """The filter as SQL conditions on event_index (prefixed by `alias.` when given)."""
        column = f"{alias}." if alias else ""
        where = Where()
        for name in ("type", "aggregate_id", "correlation_id", "task_id", "worker_id"):
            value = getattr(self, name)
            if value is not None:
                where.add(f"{column}{name} = %({name})s", **{name: value})
        if self.actor is not None:
            if self.actor.endswith("*"):  # a prefix: `worker:*`, `key:*`
                where.add(
                    f"{column}actor LIKE %(actor)s ESCAPE '!'",
                    actor=escape_like(self.actor[:-1]) + "%",
                )
            else:
                where.add(f"{column}actor = %(actor)s", actor=self.actor)
        if self.since is not None:
            where.add(f"{column}recorded_at >= %(since)s", since=_utc(self.since))
        if self.until is not None:
            where.add(f"{column}recorded_at < %(until)s", until=_utc(self.until))
        return where


def matching_positions(db: Database, query: EventFilter, after: int, limit: int) -> list[int]:
    """Positions after `after` of the events the filter matches, oldest first."""
    where = query.where()
    where.add("position > %(after)s", after=after)
    rows = db.query(
        f"SELECT position FROM event_index WHERE {where.sql} ORDER BY position LIMIT %(limit)s",
        {**where.params, "limit": limit},
    )
    return [int(row["position"]) for row in rows]


def indexed_through(db: Database) -> int:
    """The log position the index has reached: a filtered answer is complete up to it."""
    row = db.one(SELECT_INDEXED)
    return int(row["position"]) if row else 0


def assigned_after_lost(db: Database, query: EventFilter, limit: int) -> list[dict[str, Any]]:
    """Runs assigned to a worker after the log had declared that worker lost."""
    where = query.where("a")
    rows = db.query(ASSIGNED_AFTER_LOST.format(where=where.sql), {**where.params, "limit": limit})
    found = []
    for row in rows:
        lost = db.one(LOST_AT, {"position": row["lost_position"]})
        found.append(
            {
                "position": int(row["position"]),
                "run_id": str(row["run_id"]),
                "worker_id": str(row["worker_id"]),
                "assigned_at": as_datetime(row["assigned_at"]),
                "lost_position": int(row["lost_position"]),
                "lost_at": as_datetime(lost["recorded_at"]) if lost else None,
            }
        )
    return found


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
