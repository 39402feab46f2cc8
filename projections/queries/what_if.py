"""What the views say really happened to a task around a window (the what-if's facts)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from projections.ports import Database
from projections.queries.rows import as_datetime

MAX_ROWS = 20_000  # runs read per question: beyond, the oldest of the window are left out
RAN = """
SELECT started_at, finished_at FROM runs
WHERE task_uuid = %(task)s AND started_at IS NOT NULL AND started_at < %(end)s
  AND (finished_at IS NULL OR finished_at > %(start)s)
ORDER BY position DESC LIMIT %(limit)s
"""
CRON_FIRES = """
SELECT nominal_time, requested_at FROM runs
WHERE task_uuid = %(task)s AND trigger = 'cron' AND nominal_time >= %(start)s
  AND nominal_time <= %(end)s
ORDER BY position DESC LIMIT %(limit)s
"""


def run_intervals(
    db: Database, task_id: UUID, start: datetime, end: datetime, now: datetime
) -> list[tuple[datetime, datetime]]:
    """When the task's runs were running, overlapping [start, end) (a running one: to now)."""
    rows = db.query(RAN, {**_span(task_id, start, end), "limit": MAX_ROWS})
    found = []
    for row in rows:
        began = as_datetime(row["started_at"])
        ended = as_datetime(row["finished_at"]) or now
        if began is not None:
            found.append((began, ended))
    return sorted(found)


def cron_fires(
    db: Database, task_id: UUID, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """(nominal time, when it was requested) of the task's cron runs in the window."""
    rows = db.query(CRON_FIRES, {**_span(task_id, start, end), "limit": MAX_ROWS})
    found = []
    for row in rows:
        nominal, requested = as_datetime(row["nominal_time"]), as_datetime(row["requested_at"])
        if nominal is not None and requested is not None:
            found.append((nominal, requested))
    return sorted(found)


def _span(task_id: UUID, start: datetime, end: datetime) -> dict[str, object]:
    return {"task": task_id, "start": start.astimezone(UTC), "end": end.astimezone(UTC)}
