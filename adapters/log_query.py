"""Reads the log_records table: newest first, filtered by level, time, process, ids and text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from adapters.log_table import level_number
from projections.ports import Database, Row
from projections.queries.paging import Page, Where, page
from projections.queries.rows import as_datetime, escape_like

SELECT = (
    "SELECT id, time, level, logger, message, process, pid, host, correlation_id, trace_id,"
    " span_id, run_id, attempt, task_id, worker_id, principal, extra FROM log_records"
)


@dataclass(frozen=True)
class LogFilter:
    """What GET /api/system/logs asks for; None leaves a filter out."""

    level: str | None = None  # this level and above
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before
    process: str | None = None
    run_id: str | None = None
    correlation_id: str | None = None
    q: str | None = None  # in the message (case-insensitive)
    before: int | None = None  # keyset paging: records older than this id
    limit: int = 100
    offset: int = 0

    def where(self) -> Where:
        """The filter as SQL conditions."""
        where = Where()
        if self.level is not None:
            where.add("level_no >= %(level_no)s", level_no=level_number(self.level))
        if self.since is not None:
            where.add("time >= %(since)s", since=self.since)
        if self.until is not None:
            where.add("time < %(until)s", until=self.until)
        if self.process is not None:
            where.add("process = %(process)s", process=self.process)
        if self.run_id is not None:
            where.add("run_id = %(run_id)s", run_id=self.run_id)
        if self.correlation_id is not None:
            where.add("correlation_id = %(correlation)s", correlation=self.correlation_id)
        if self.q is not None:
            where.add("LOWER(message) LIKE %(q)s ESCAPE '!'", q=f"%{escape_like(self.q.lower())}%")
        return where


def read_logs(database: Database, wanted: LogFilter) -> Page:
    """One page of matching records, newest first, and how many match in all."""
    seek = Where()
    if wanted.before is not None:
        seek.add("id < %(before)s", before=wanted.before)
    return page(
        database,
        select=SELECT,
        count_from="log_records",
        where=wanted.where(),
        order_by="id DESC",
        limit=wanted.limit,
        offset=wanted.offset,
        shape=_record,
        seek=seek,
    )


def _record(row: Row) -> dict[str, Any]:
    record = {k: v for k, v in row.items() if k != "extra"}
    record["time"] = as_datetime(row["time"])
    try:
        record["extra"] = orjson.loads(row["extra"]) if row["extra"] else {}
    except orjson.JSONDecodeError:  # written by an older or foreign writer: shown as text
        record["extra"] = {"unreadable": str(row["extra"])[:200]}
    return record
