"""Run routes: status, outcome and the run's own event timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from domain.statuses import RunStatus
from entrypoints.api.deps import (
    AppDep,
    ContextDep,
    HistoryDep,
    ReadModelDep,
    ReferencesDep,
    ViewsDep,
    parse_id,
    parse_run_id,
)
from entrypoints.api.history import AsOf, Version
from entrypoints.api.namespace_scope import ScopeDep
from entrypoints.api.schemas import EventPublic, RunPublic, RunsPublic
from entrypoints.api.strict import StrictRoute
from entrypoints.api.visible import visible_run

router = APIRouter(prefix="/api/runs", tags=["runs"], route_class=StrictRoute)
RUN_STATUSES = tuple(RunStatus)
RUN_STATUS_PATTERN = "^(" + "|".join(RUN_STATUSES) + ")$"


@router.get("", response_model=RunsPublic)
def list_runs(
    app: AppDep,
    references: ReferencesDep,
    scope: ScopeDep,
    read_model: ReadModelDep,
    views: ViewsDep,
    task: Annotated[
        str | None, Query(max_length=200, description="Task number, UUID or name.")
    ] = None,
    status: Annotated[
        str | None,
        Query(pattern=RUN_STATUS_PATTERN),
    ] = None,
    backfill: Annotated[
        str | None, Query(max_length=100, description="A backfill's id: the runs it requested.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    min_position: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    before: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**62,
            description="Keyset paging: the runs just older than this `position` (the last"
            " item's, for the next page); as fast on the last page as on the first.",
        ),
    ] = None,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            le=2**62,
            description="Keyset paging: the runs just newer than this `position` (the first"
            " item's, for the previous page; 0: the oldest runs). Still newest first.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Runs, newest first, by namespace, task, status and backfill; pages by `offset`, or by
    `before` / `after`."""
    views.ensure(min_position)
    task_uuid = correlation = None
    if task is not None:
        task_uuid = references.task_id(task, field="task")
    if backfill is not None:
        found = app.get_backfill(parse_id("backfill", backfill))
        if task_uuid is not None and task_uuid != found.task_id:
            return {"items": [], "total": 0, "limit": limit, "offset": offset}
        task_uuid, correlation = found.task_id, found.id  # the task's index narrows the scan
    items, total = read_model.list_runs(
        task_uuid=task_uuid,
        status=status,
        limit=limit,
        offset=offset,
        before=before,
        after=after,
        correlation_id=correlation,
        namespaces=scope.listed(),
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{run_id}", response_model=RunPublic)
def get_run(
    run_id: str,
    scope: ScopeDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    response: Response,
    min_position: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    as_of: AsOf = None,
    version: Version = None,
) -> dict[str, Any]:
    """One run: status, attempts, worker, exit code, output tail, error, reason; or, with
    `as_of` or `version`, as it was then, rebuilt from its events. While the runs view lacks
    it, it is rebuilt from its events and marked `X-View-Stale: true`."""
    views.ensure(min_position)
    run = visible_run(run_id, scope, views, read_model, history, response)
    if as_of is not None or version is not None:
        then = history.state_at("run", parse_run_id(run_id), as_of, version)
        live = read_model.run(parse_run_id(run_id))
        then["task_id"] = live["task_id"] if live else None
        return then
    run["quarantine"] = views.quarantine_of(parse_run_id(run_id))
    return run


@router.get("/{run_id}/events", response_model=list[EventPublic])
def run_events(
    run_id: str,
    scope: ScopeDep,
    views: ViewsDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    response: Response,
) -> list[dict[str, Any]]:
    """The run's events in order, straight from the event store, with their log positions."""
    if scope.narrowed:
        visible_run(run_id, scope, views, read_model, history, response)
    return history.records(parse_run_id(run_id), "run")


@router.post("/{run_id}/cancel", response_model=RunPublic)
def cancel_run(
    run_id: str,
    scope: ScopeDep,
    app: AppDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
) -> dict[str, Any]:
    """Cancel a pending, assigned, running or retrying run; a running process is killed."""
    if scope.narrowed:
        visible_run(run_id, scope, views, read_model, history, response)
    result = app.cancel_run(parse_run_id(run_id), f"cancelled by {ctx.actor}", ctx)
    return views.after_command(
        response, "run", result.aggregate_id, result.position, read_model.run, history.run_from_log
    )
