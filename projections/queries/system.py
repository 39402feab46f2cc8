"""Deployment-wide reads: how many tasks, runs and workers are in each status."""

from __future__ import annotations

from projections.ports import Database

COUNTED_TABLES = ("tasks", "runs", "workers")


class SystemQueries:
    """Counts over the read tables, for metrics and the status page."""

    _db: Database

    def counts(self) -> dict[str, dict[str, int]]:
        """Tasks, runs and workers by status."""
        result: dict[str, dict[str, int]] = {}
        for table in COUNTED_TABLES:
            rows = self._db.query(f"SELECT status, COUNT(*) AS n FROM {table} GROUP BY status")
            result[table] = {r["status"]: int(r["n"]) for r in rows}
        return result
