"""Reads the pages need beyond the API's ReadModel: bounded, indexed, over the read tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from projections.ports import Database
from projections.queries import as_datetime

FAILED = ("failed", "timed_out", "upstream_failed", "cancelled")
RATE_WINDOW = timedelta(minutes=10)


class PageQueries:
    """Queries of the overview and the task list; never writes."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def recent_failures(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest runs that did not succeed, with their error or reason."""
        rows = self._db.query(
            "SELECT r.id, r.task_name, t.number AS task_number, r.status, r.error, r.reason,"
            " r.finished_at, r.exit_code FROM runs r LEFT JOIN tasks t ON t.uuid = r.task_uuid"
            " WHERE r.status IN ('failed', 'timed_out', 'upstream_failed')"
            " ORDER BY r.position DESC LIMIT %(limit)s",
            {"limit": limit},
        )
        return [
            {**dict(r), "id": str(r["id"]), "finished_at": as_datetime(r["finished_at"])}
            for r in rows
        ]

    def runs_per_minute(self, now: datetime) -> float:
        """Runs finished per minute over the last ten minutes."""
        row = self._db.one(
            "SELECT COUNT(*) AS n FROM runs WHERE finished_at >= %(since)s",
            {"since": now - RATE_WINDOW},
        )
        return round(int(row["n"] if row else 0) / (RATE_WINDOW.total_seconds() / 60), 1)

    def last_runs(self, task_uuids: list[str]) -> dict[str, dict[str, Any]]:
        """Each task's last run (status, when), for one page of tasks in one query."""
        if not task_uuids:
            return {}
        names = {f"t{i}": UUID(u) for i, u in enumerate(task_uuids)}
        placeholders = ", ".join(f"%({n})s" for n in names)
        rows = self._db.query(
            "SELECT task_uuid, last_run_id, last_status, last_finished_at FROM task_run_stats"
            f" WHERE task_uuid IN ({placeholders})",
            names,
        )
        return {
            str(r["task_uuid"]): {
                "run_id": str(r["last_run_id"]) if r["last_run_id"] else None,
                "status": r["last_status"],
                "finished_at": as_datetime(r["last_finished_at"]),
            }
            for r in rows
        }
