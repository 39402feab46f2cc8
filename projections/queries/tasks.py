"""Task queries: one task by number, UUID or name, the task list, a task's run statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from domain.namespace import DEFAULT_NAMESPACE
from domain.secrets import masked_spec
from projections.base import from_json
from projections.ports import Database, Row
from projections.queries.paging import Page, Resource, Where, in_list, list_params, page
from projections.queries.rows import as_datetime, escape_like, id_text

TASK_COLUMNS = (
    "uuid, number, name, status, pause_reason, version, spec, created_at, updated_at, next_fire_at,"
    " last_misfire, namespace"
)


def task_resource(row: Row) -> Resource:
    """A tasks row as the API's task resource (secret values masked: every reader sees ***)."""
    spec = masked_spec(from_json(row["spec"]) or {})
    return {
        "id": row["number"],
        "uuid": id_text(row["uuid"]),
        **spec,
        "namespace": row["namespace"],
        "status": row["status"],
        "pause_reason": row["pause_reason"],
        "version": row["version"],
        "next_fire_at": as_datetime(row["next_fire_at"]),
        "last_misfire": from_json(row["last_misfire"]),
        "created_at": as_datetime(row["created_at"]),
        "updated_at": as_datetime(row["updated_at"]),
    }


class TaskQueries:
    """Reads the tasks and task_run_stats tables."""

    _db: Database

    def task_by_number(self, number: int) -> Resource | None:
        """A task by its sequential number."""
        return self._task("number = %(v)s", number)

    def task_by_uuid(self, task_uuid: UUID) -> Resource | None:
        """A task by its UUID."""
        return self._task("uuid = %(v)s", task_uuid)

    def task_by_name(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Resource | None:
        """The live task with this name in the namespace, else the newest deleted one."""
        rows = self._db.query(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE name = %(v)s AND namespace = %(ns)s "
            "ORDER BY CASE WHEN status = 'deleted' THEN 1 ELSE 0 END, number DESC LIMIT 1",
            {"v": name, "ns": namespace},
        )
        return task_resource(rows[0]) if rows else None

    def _task(self, where: str, value: Any) -> Resource | None:
        row = self._db.one(f"SELECT {TASK_COLUMNS} FROM tasks WHERE {where}", {"v": value})
        return task_resource(row) if row else None

    def list_tasks(
        self,
        *,
        status: str | None,
        name: str | None,
        limit: int,
        offset: int,
        namespaces: Sequence[str] | None = None,
    ) -> Page:
        """Tasks by number, filtered (by namespace: in one of `namespaces`); deleted ones only
        when asked for by status."""
        where = Where()
        if namespaces is not None:
            where.add(in_list("namespace", "ns", namespaces), **list_params("ns", namespaces))
        if status:
            where.add("status = %(status)s", status=status)
        else:
            where.add("status <> 'deleted'")
        if name:
            where.add("LOWER(name) LIKE %(name)s ESCAPE '!'", name=f"%{escape_like(name.lower())}%")
        return page(
            self._db,
            select=f"SELECT {TASK_COLUMNS} FROM tasks",
            count_from="tasks",
            where=where,
            order_by="number",
            limit=limit,
            offset=offset,
            shape=task_resource,
        )

    def task_stats(self, task_uuid: UUID) -> Resource:
        """Counts and durations of a task's runs."""
        row = self._db.one("SELECT * FROM task_run_stats WHERE task_uuid = %(v)s", {"v": task_uuid})
        if row is None:
            return {"runs_total": 0, "runs_succeeded": 0, "runs_failed": 0}
        finished = row["runs_succeeded"] + row["runs_failed"]
        return {
            "runs_total": row["runs_total"],
            "runs_succeeded": row["runs_succeeded"],
            "runs_failed": row["runs_failed"],
            "average_duration_seconds": (
                row["total_duration_seconds"] / finished if finished else None
            ),
            "max_duration_seconds": row["max_duration_seconds"],
            "last_run_id": id_text(row["last_run_id"]),
            "last_status": row["last_status"],
            "last_finished_at": as_datetime(row["last_finished_at"]),
        }
