"""The query side: reads the read tables and shapes rows into resources."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.secrets import masked_entries, masked_spec
from projections.base import from_json
from projections.ports import Database, Row

TASK_COLUMNS = (
    "uuid, number, name, status, pause_reason, version, spec, created_at, updated_at, next_fire_at,"
    " last_misfire"
)
RUN_COLUMNS = """
r.id, r.task_uuid, t.number AS task_number, r.task_name, r.task_version, r.status, r.attempt,
r.worker_id, r.trigger, r.nominal_time, r.priority, r.params, r.requested_at, r.assigned_at,
r.started_at, r.finished_at, r.duration_seconds, r.exit_code, r.output, r.error, r.reason,
r.correlation_id, r.position, r.parent_run_id, r.shard_index, r.shard_total
"""
RUNS_FROM = "FROM runs r LEFT JOIN tasks t ON t.uuid = r.task_uuid"
ATTEMPTS_OF_RUN = """
SELECT attempt, worker_id, status, assigned_at, started_at, finished_at, exit_code, error,
       duration_seconds, output
FROM run_attempts WHERE run_id = %(v)s ORDER BY attempt
"""
WAITING_OR_NOT_RUN = ("pending", "retrying", "skipped", "upstream_failed")  # runs with a reason


def as_datetime(value: Any) -> datetime | None:
    """Stored time as an aware datetime (SQLite keeps ISO text, PostgreSQL timestamptz)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _uuid(value: Any) -> str | None:
    return None if value is None else str(value)


def task_resource(row: Row) -> dict[str, Any]:
    """A tasks row as the API's task resource (secret values masked: every reader sees ***)."""
    spec = masked_spec(from_json(row["spec"]) or {})
    return {
        "id": row["number"],
        "uuid": _uuid(row["uuid"]),
        **spec,
        "status": row["status"],
        "pause_reason": row["pause_reason"],
        "version": row["version"],
        "next_fire_at": as_datetime(row["next_fire_at"]),
        "last_misfire": from_json(row["last_misfire"]),
        "created_at": as_datetime(row["created_at"]),
        "updated_at": as_datetime(row["updated_at"]),
    }


def run_resource(row: Row) -> dict[str, Any]:
    """A runs row as the API's run resource (secret params masked)."""
    return {
        "id": _uuid(row["id"]),
        "task_id": row["task_number"],
        "task_uuid": _uuid(row["task_uuid"]),
        "task_name": row["task_name"],
        "task_version": row["task_version"],
        "status": row["status"],
        "attempt": row["attempt"],
        "worker_id": _uuid(row["worker_id"]),
        "trigger": row["trigger"],
        "nominal_time": as_datetime(row["nominal_time"]),
        "priority": row["priority"],
        "params": masked_entries(from_json(row["params"]) or {}),
        "requested_at": as_datetime(row["requested_at"]),
        "assigned_at": as_datetime(row["assigned_at"]),
        "started_at": as_datetime(row["started_at"]),
        "finished_at": as_datetime(row["finished_at"]),
        "duration_seconds": row["duration_seconds"],
        "exit_code": row["exit_code"],
        "output": row["output"],
        "error": row["error"],
        "reason": row["reason"] if row["status"] in WAITING_OR_NOT_RUN else None,
        "correlation_id": row["correlation_id"],
        "position": row["position"],
        "parent_run_id": _uuid(row["parent_run_id"]),
        "shard_index": row["shard_index"],
        "shard_total": row["shard_total"],
    }


def attempt_resource(row: Row) -> dict[str, Any]:
    """A run_attempts row: one attempt of a run."""
    return {
        "attempt": row["attempt"],
        "worker_id": _uuid(row["worker_id"]),
        "status": row["status"],
        "assigned_at": as_datetime(row["assigned_at"]),
        "started_at": as_datetime(row["started_at"]),
        "finished_at": as_datetime(row["finished_at"]),
        "exit_code": row["exit_code"],
        "error": row["error"],
        "duration_seconds": row["duration_seconds"],
        "output": row["output"],
    }


def worker_resource(row: Row) -> dict[str, Any]:
    """A workers row as the API's worker resource (liveness is merged by the caller)."""
    return {
        "id": _uuid(row["id"]),
        "name": row["name"],
        "hostname": row["hostname"],
        "status": row["status"],
        "executors": from_json(row["executors"]) or [],
        "queues": from_json(row["queues"]) or [],
        "labels": from_json(row["labels"]) or {},
        "max_concurrent_tasks": row["max_concurrent_tasks"],
        "running": row["running"],
        "registered_at": as_datetime(row["registered_at"]),
        "last_heartbeat_at": None,
    }


class ReadModel:
    """Queries over the read tables; never writes."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def task_by_number(self, number: int) -> dict[str, Any] | None:
        """A task by its sequential number."""
        return self._task("number = %(v)s", number)

    def task_by_uuid(self, task_uuid: UUID) -> dict[str, Any] | None:
        """A task by its UUID."""
        return self._task("uuid = %(v)s", task_uuid)

    def task_by_name(self, name: str) -> dict[str, Any] | None:
        """The live task with this name, else the newest deleted one."""
        rows = self._db.query(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE name = %(v)s "
            "ORDER BY CASE WHEN status = 'deleted' THEN 1 ELSE 0 END, number DESC LIMIT 1",
            {"v": name},
        )
        return task_resource(rows[0]) if rows else None

    def _task(self, where: str, value: Any) -> dict[str, Any] | None:
        row = self._db.one(f"SELECT {TASK_COLUMNS} FROM tasks WHERE {where}", {"v": value})
        return task_resource(row) if row else None

    def list_tasks(
        self, *, status: str | None, name: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Tasks by number, filtered; deleted ones only when asked for by status."""
        where, params = ["status <> 'deleted'"], {"limit": limit, "offset": offset}
        if status:
            where, params["status"] = ["status = %(status)s"], status
        if name:
            where.append("LOWER(name) LIKE %(name)s ESCAPE '!'")
            params["name"] = "%" + _escape_like(name.lower()) + "%"
        clause = " AND ".join(where)
        total = self._db.one(f"SELECT COUNT(*) AS n FROM tasks WHERE {clause}", params)
        rows = self._db.query(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE {clause} "
            "ORDER BY number LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        return [task_resource(r) for r in rows], int(total["n"] if total else 0)

    def task_stats(self, task_uuid: UUID) -> dict[str, Any]:
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
            "last_run_id": _uuid(row["last_run_id"]),
            "last_status": row["last_status"],
            "last_finished_at": as_datetime(row["last_finished_at"]),
        }

    def run(self, run_id: UUID) -> dict[str, Any] | None:
        """One run."""
        row = self._db.one(f"SELECT {RUN_COLUMNS} {RUNS_FROM} WHERE r.id = %(v)s", {"v": run_id})
        if row is None:
            return None
        attempts = self._db.query(ATTEMPTS_OF_RUN, {"v": run_id})
        return {**run_resource(row), "attempts": [attempt_resource(a) for a in attempts]}

    def list_runs(
        self,
        *,
        task_uuid: UUID | None,
        status: str | None,
        limit: int,
        offset: int,
        before: int | None = None,
        after: int | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Runs, newest first, filtered by task and status; the total counts the filter alone.

        `before` / `after` page by log position (keyset: an index seek, whatever the depth):
        the `limit` runs just older than `before`, or just newer than `after`.
        """
        where, params = ["1 = 1"], {"limit": limit, "offset": offset}
        if task_uuid is not None:
            where.append("r.task_uuid = %(task)s")
            params["task"] = task_uuid
        if status:
            where.append("r.status = %(status)s")
            params["status"] = status
        clause = " AND ".join(where)
        total = self._db.one(f"SELECT COUNT(*) AS n FROM runs r WHERE {clause}", params)
        order = "ASC" if after is not None and before is None else "DESC"
        if before is not None:
            where.append("r.position < %(before)s")
            params["before"] = before
        if after is not None:
            where.append("r.position > %(after)s")
            params["after"] = after
        rows = self._db.query(
            f"SELECT {RUN_COLUMNS} {RUNS_FROM} WHERE {' AND '.join(where)} "
            f"ORDER BY r.position {order} LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        runs = [run_resource(r) for r in rows]
        return (runs[::-1] if order == "ASC" else runs), int(total["n"] if total else 0)

    def worker(self, worker_id: UUID) -> dict[str, Any] | None:
        """One worker."""
        row = self._db.one("SELECT * FROM workers WHERE id = %(v)s", {"v": worker_id})
        return worker_resource(row) if row else None

    def list_workers(self, *, status: str | None) -> list[dict[str, Any]]:
        """Workers by registration time."""
        if status:
            rows = self._db.query(
                "SELECT * FROM workers WHERE status = %(s)s ORDER BY registered_at", {"s": status}
            )
        else:
            rows = self._db.query("SELECT * FROM workers ORDER BY registered_at")
        return [worker_resource(r) for r in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """Tasks, runs and workers by status."""
        result: dict[str, dict[str, int]] = {}
        for table in ("tasks", "runs", "workers"):
            rows = self._db.query(f"SELECT status, COUNT(*) AS n FROM {table} GROUP BY status")
            result[table] = {r["status"]: int(r["n"]) for r in rows}
        return result


def _escape_like(text: str) -> str:
    # The user's text is matched literally: escape LIKE wildcards with '!'.
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
