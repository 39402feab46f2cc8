"""The global event log, by position, and queried by type, aggregate, actor, time, task."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime

from entrypoints.api.deps import AppDep, ReadDatabaseDep, ReferencesDep
from entrypoints.api.namespace_scope import EVERY_NAMESPACE
from entrypoints.api.schemas import AssignedAfterLostPublic, EventsPublic
from entrypoints.api.strict import StrictRoute
from projections.event_records import event_record
from projections.queries.events import (
    EventFilter,
    assigned_after_lost,
    indexed_through,
    matching_positions,
)

router = APIRouter(prefix="/api/events", tags=["events"], route_class=StrictRoute)
MAX_POSITION = 2**62


def event_filter(
    references: ReferencesDep,
    type: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Exact type, e.g. `TaskRun.Failed`."),
    ] = None,
    aggregate_id: Annotated[
        str | None, Query(min_length=1, max_length=100, description="A task, run or worker id.")
    ] = None,
    actor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Exact actor (`key:ops`), or a prefix ending in `*` (`worker:*`).",
        ),
    ] = None,
    correlation_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Everything one request or bulk command caused (its X-Correlation-ID).",
        ),
    ] = None,
    task: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="A task ref (number, UUID or name): its own events and its runs'.",
        ),
    ] = None,
    worker_id: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="A worker's events and its assignments."),
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Recorded at or after (ISO time with zone).")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Recorded before (ISO time with zone).")
    ] = None,
) -> EventFilter:
    """The query's filters; a task ref that names no task is a 404 saying so."""
    if since is not None and until is not None and until <= since:
        raise HTTPException(status_code=422, detail="until must be later than since")
    task_id = str(references.task_id(task, "task")) if task is not None else None
    return EventFilter(
        type=type,
        aggregate_id=aggregate_id,
        actor=actor,
        correlation_id=correlation_id,
        task_id=task_id,
        worker_id=worker_id,
        since=since,
        until=until,
    )


EventFilterDep = Annotated[EventFilter, Depends(event_filter)]


@router.get(
    "", response_model=EventsPublic, response_model_exclude_none=True, dependencies=EVERY_NAMESPACE
)
def list_events(
    app: AppDep,
    database: ReadDatabaseDep,
    query: EventFilterDep,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="Events after this.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> dict[str, Any]:
    """Events after a position, oldest first; page with next_after.

    With a filter the events come from the index of the log (`indexed_through` says how far
    it has reached: an event after it is not matched yet); without one, from the log itself.
    """
    head = app.head_position()
    if query.empty:
        batch = app.read_log(after, limit)
        reached = None
    else:
        reached = indexed_through(database)
        batch = app.events_at(matching_positions(database, query, after, limit))
    next_after = batch[-1][0] if batch else after
    if reached is not None and len(batch) < limit:  # nothing else matches up to `reached`
        next_after = max(next_after, reached)
    return {
        "items": [event_record(event, position) for position, event in batch],
        "next_after": next_after,
        "head": head,
        "indexed_through": reached,
    }


@router.get(
    "/forensics/assigned-after-lost",
    response_model=AssignedAfterLostPublic,
    dependencies=EVERY_NAMESPACE,
)
def runs_assigned_after_lost(
    database: ReadDatabaseDep,
    query: EventFilterDep,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> dict[str, Any]:
    """Runs the dispatcher assigned to a worker after the log had declared that worker lost.

    Each is a decision made on a stale view of the pool: a sign of a split dispatcher or a
    clock problem. The filters narrow the assignments (e.g. `worker_id`, `since`).
    """
    return {
        "items": assigned_after_lost(database, query, limit),
        "indexed_through": indexed_through(database),
    }
