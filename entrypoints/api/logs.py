"""GET /api/system/logs: recent log records of every process of the deployment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from adapters.log_query import LogFilter, read_logs
from domain.errors import InvalidFieldError
from entrypoints.api.deps import ReadDatabaseDep
from entrypoints.api.json_response import OrjsonResponse
from entrypoints.api.namespace_scope import EVERY_NAMESPACE
from entrypoints.api.strict import StrictRoute

router = APIRouter(tags=["system"], route_class=StrictRoute)
LEVEL_PATTERN = "^(debug|info|warning|error|critical)$"
PROCESS_PATTERN = "^(api|dispatcher|worker|projector|up)$"


class LogRecordPublic(BaseModel):
    """One log record as a process logged it (secrets already masked there)."""

    id: int = Field(description="Its place in the table: newer records have larger ids.")
    time: datetime = Field(description="When the process logged it (UTC).")
    level: str = Field(description="debug, info, warning, error or critical.")
    logger: str = Field(description="The Python logger that wrote it.")
    message: str
    process: str = Field(description="The process kind: api, dispatcher, worker, projector, up.")
    pid: int | None = None
    host: str | None = None
    correlation_id: str | None = Field(
        None, description="The API request's correlation id (the X-Correlation-Id header)."
    )
    trace_id: str | None = Field(None, description="Not filled yet: no tracing in place.")
    span_id: str | None = Field(None, description="Not filled yet: no tracing in place.")
    run_id: str | None = None
    attempt: int | None = None
    task_id: str | None = None
    worker_id: str | None = None
    principal: str | None = Field(None, description="The API caller (actor) of the request.")
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other field of the record: `action`, a traceback (`exc_info`), ...",
    )


class LogsPublic(BaseModel):
    """A page of log records, newest first."""

    items: list[LogRecordPublic]
    total: int = Field(description="How many records match the filters in all.")
    limit: int
    offset: int


@router.get(
    "/api/system/logs",
    response_model=LogsPublic,
    response_class=OrjsonResponse,
    dependencies=EVERY_NAMESPACE,
)
def list_logs(
    database: ReadDatabaseDep,
    level: Annotated[
        str | None, Query(pattern=LEVEL_PATTERN, description="This level and above.")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="ISO 8601; records at or after it (UTC if no zone).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="ISO 8601; records before it (UTC if no zone).")
    ] = None,
    process: Annotated[str | None, Query(pattern=PROCESS_PATTERN)] = None,
    run_id: Annotated[UUID | None, Query()] = None,
    correlation_id: Annotated[UUID | None, Query()] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00]*$",  # PostgreSQL text holds no NUL
            description="Text in the message (any case).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    before: Annotated[
        int | None,
        Query(ge=1, le=2**62, description="Keyset paging: records older than this `id`."),
    ] = None,
) -> dict[str, Any]:
    """Recent log records of every process (API, dispatchers, projectors, workers), newest first.

    Each process ships its records of level info and above here (workers through a
    dispatcher, over the bus) within about a second; the table keeps the newest
    `[observability] log_retention_records`, none older than `log_retention_hours`. Right
    `read_logs`: operator, editor and admin. A bad filter is a 422 naming it.
    """
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise InvalidFieldError("until", "must be later than since")
    wanted = LogFilter(
        level=level,
        since=since,
        until=until,
        process=process,
        run_id=str(run_id) if run_id else None,
        correlation_id=str(correlation_id) if correlation_id else None,
        q=q,
        before=before,
        limit=limit,
        offset=offset,
    )
    items, total = read_logs(database, wanted)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
