"""Worker queries: one worker, and the worker list (whole: a deployment has few workers)."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from domain.namespace import DEFAULT_NAMESPACE, covers
from projections.base import from_json
from projections.ports import Database, Row
from projections.queries.paging import Resource, Where
from projections.queries.rows import as_datetime, id_text


def worker_resource(row: Row) -> Resource:
    """A workers row as the API's worker resource (liveness is merged by the caller)."""
    return {
        "id": id_text(row["id"]),
        "name": row["name"],
        "hostname": row["hostname"],
        "status": row["status"],
        "executors": from_json(row["executors"]) or [],
        "queues": from_json(row["queues"]) or [],
        "labels": from_json(row["labels"]) or {},
        "namespaces": from_json(row["namespaces"]) or [DEFAULT_NAMESPACE],
        "max_concurrent_tasks": row["max_concurrent_tasks"],
        "running": row["running"],
        "registered_at": as_datetime(row["registered_at"]),
        "last_heartbeat_at": None,
    }


class WorkerQueries:
    """Reads the workers table."""

    _db: Database

    def worker(self, worker_id: UUID) -> Resource | None:
        """One worker."""
        row = self._db.one("SELECT * FROM workers WHERE id = %(v)s", {"v": worker_id})
        return worker_resource(row) if row else None

    def list_workers(
        self, *, status: str | None, namespaces: Collection[str] | None = None
    ) -> list[Resource]:
        """Workers by registration time; with `namespaces`, those serving one of them."""
        where = Where()
        if status:
            where.add("status = %(status)s", status=status)
        rows = self._db.query(
            f"SELECT * FROM workers WHERE {where.sql} ORDER BY registered_at", where.params
        )
        workers = [worker_resource(r) for r in rows]
        if namespaces is None:
            return workers
        # A JSON list in a text column: filtered here (a deployment has few workers).
        return [w for w in workers if any(covers(w["namespaces"], ns) for ns in namespaces)]
