"""History and time travel: an aggregate's events, its past states, definition diffs, rollback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from domain.scalars import Integer
from entrypoints.api.deps import (
    AppDep,
    ContextDep,
    HistoryDep,
    ReadModelDep,
    ReferencesDep,
    ViewsDep,
    parse_id,
)
from entrypoints.api.namespace_scope import ScopeDep
from entrypoints.api.permissions import PrincipalDep, check_task_executors
from entrypoints.api.schemas import EventPublic, TaskDiff, TaskPublic
from entrypoints.api.strict import StrictRoute
from entrypoints.api.visible import visible_worker

router = APIRouter(tags=["history"], route_class=StrictRoute)

AsOf = Annotated[
    str | None,
    Query(
        max_length=64,
        description="ISO 8601 time with offset: the state as it was then, rebuilt from events.",
    ),
]
Version = Annotated[
    int | None,
    Query(ge=1, le=2**31, description="The state at this aggregate version, rebuilt from events."),
]


@router.get("/api/tasks/{ref}/history", response_model=list[EventPublic])
def task_history(ref: str, references: ReferencesDep, history: HistoryDep) -> list[dict[str, Any]]:
    """Every event of the task: type, time, version, log position, actor, correlation, payload."""
    return history.records(references.task_id(ref), "task")


@router.get("/api/workers/{worker_id}/history", response_model=list[EventPublic])
def worker_history(
    worker_id: str,
    history: HistoryDep,
    scope: ScopeDep,
    views: ViewsDep,
    read_model: ReadModelDep,
    response: Response,
) -> list[dict[str, Any]]:
    """Every event of the worker: registration, draining, lost, deregistered."""
    if scope.narrowed:
        visible_worker(worker_id, scope, views, read_model, history, response)
    return history.records(parse_id("worker", worker_id), "worker")


@router.get("/api/tasks/{ref}/diff", response_model=TaskDiff)
def task_diff(
    ref: str,
    references: ReferencesDep,
    history: HistoryDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2**31)],
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=2**31)] = None,
) -> dict[str, Any]:
    """What changed in the task's definition and status between two versions (to = latest)."""
    return history.task_diff(references.task_id(ref), from_version, to_version)


@router.post("/api/tasks/{ref}/rollback", response_model=TaskPublic)
def rollback_task(
    ref: str,
    app: AppDep,
    references: ReferencesDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
    request: Request,
    principal: PrincipalDep,
    version: Annotated[Integer, Body(embed=True, ge=1, le=2**31)],
) -> dict[str, Any]:
    """Restore the definition the task had at `version`, recorded as a new update by you."""
    task_id = references.task_id(ref)
    if 1 <= version <= app.get_task(task_id).version:
        check_task_executors(request, principal, app, task_id, version=version)
    result = app.rollback_task(task_id, version, ctx)
    return views.after_command(
        response, "task", task_id, result.position, read_model.task_by_uuid, history.task_from_log
    )
