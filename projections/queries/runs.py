"""Run queries: one run with its attempts, and the run list."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain.secrets import masked_entries
from domain.statuses import RunStatus
from projections.base import from_json
from projections.ports import Database, Row
from projections.queries.paging import Page, Resource, Where, in_list, list_params, page
from projections.queries.rows import as_datetime, id_text

RUN_COLUMNS = """
r.id, r.task_uuid, t.number AS task_number, r.task_name, r.task_version, r.status, r.attempt,
r.worker_id, r.trigger, r.nominal_time, r.priority, r.params, r.requested_at, r.assigned_at,
r.started_at, r.finished_at, r.duration_seconds, r.exit_code, r.output, r.error, r.reason,
r.correlation_id, r.position, r.parent_run_id, r.shard_index, r.shard_total, r.namespace
"""
RUNS_FROM = "FROM runs r LEFT JOIN tasks t ON t.uuid = r.task_uuid"
ATTEMPTS_OF_RUN = """
SELECT attempt, worker_id, status, assigned_at, started_at, finished_at, exit_code, error,
       duration_seconds, output
FROM run_attempts WHERE run_id = %(v)s ORDER BY attempt
"""
# The runs whose `reason` says why they wait or did not run; other runs show none.
WAITING_OR_NOT_RUN = frozenset(
    {RunStatus.PENDING, RunStatus.RETRYING, RunStatus.SKIPPED, RunStatus.UPSTREAM_FAILED}
)


def run_resource(row: Row) -> Resource:
    """A runs row as the API's run resource (secret params masked)."""
    return {
        "id": id_text(row["id"]),
        "task_id": row["task_number"],
        "task_uuid": id_text(row["task_uuid"]),
        "task_name": row["task_name"],
        "namespace": row["namespace"],
        "task_version": row["task_version"],
        "status": row["status"],
        "attempt": row["attempt"],
        "worker_id": id_text(row["worker_id"]),
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
        "parent_run_id": id_text(row["parent_run_id"]),
        "shard_index": row["shard_index"],
        "shard_total": row["shard_total"],
    }


def attempt_resource(row: Row) -> Resource:
    """A run_attempts row: one attempt of a run."""
    return {
        "attempt": row["attempt"],
        "worker_id": id_text(row["worker_id"]),
        "status": row["status"],
        "assigned_at": as_datetime(row["assigned_at"]),
        "started_at": as_datetime(row["started_at"]),
        "finished_at": as_datetime(row["finished_at"]),
        "exit_code": row["exit_code"],
        "error": row["error"],
        "duration_seconds": row["duration_seconds"],
        "output": row["output"],
    }


class RunQueries:
    """Reads the runs and run_attempts tables."""

    _db: Database

    def run(self, run_id: UUID) -> Resource | None:
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
        correlation_id: UUID | None = None,
        namespaces: Sequence[str] | None = None,
    ) -> Page:
        """Runs, newest first, filtered by task, status and correlation (a backfill's id);
        the total counts the filter alone.

        `before` / `after` page by log position (keyset: an index seek, whatever the depth):
        the `limit` runs just older than `before`, or just newer than `after`.
        """
        where = Where()
        if namespaces is not None:
            where.add(in_list("r.namespace", "ns", namespaces), **list_params("ns", namespaces))
        if task_uuid is not None:
            where.add("r.task_uuid = %(task)s", task=task_uuid)
        if status:
            where.add("r.status = %(status)s", status=status)
        if correlation_id is not None:
            where.add("r.correlation_id = %(correlation)s", correlation=str(correlation_id))
        seek = Where()
        if before is not None:
            seek.add("r.position < %(before)s", before=before)
        if after is not None:
            seek.add("r.position > %(after)s", after=after)
        # Just newer than `after`: the oldest of those first, turned back to newest first.
        ascending = after is not None and before is None
        runs, total = page(
            self._db,
            select=f"SELECT {RUN_COLUMNS} {RUNS_FROM}",
            count_from="runs r",
            where=where,
            order_by="r.position ASC" if ascending else "r.position DESC",
            limit=limit,
            offset=offset,
            shape=run_resource,
            seek=seek,
        )
        return (runs[::-1] if ascending else runs), total
