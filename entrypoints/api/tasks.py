"""Task routes: the command side writes events, the query side reads the tasks table."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query, Request, Response, status

from application.log_context import log_context
from domain.errors import InvalidFieldError
from domain.statuses import TaskStatus
from domain.task_spec import TaskSpec
from entrypoints.api.deps import (
    AppDep,
    ContextDep,
    HistoryDep,
    NamespaceRatesDep,
    ReadModelDep,
    ReferencesDep,
    ViewsDep,
)
from entrypoints.api.history import AsOf, Version
from entrypoints.api.namespace_scope import ScopeDep
from entrypoints.api.permissions import PrincipalDep, check_task_executors, require_executors
from entrypoints.api.schemas import (
    ReasonRequest,
    RunsPublic,
    TaskPublic,
    TasksPublic,
    TaskUpdate,
    TriggerAccepted,
    TriggerRequest,
)
from entrypoints.api.strict import StrictRoute
from entrypoints.api.views import Views, mark_stale
from projections.history import History
from projections.queries import ReadModel

MAX_VERSION = 2**31 - 1  # versions are counted from 1 per aggregate
MAX_VERSION_DIGITS = len(str(MAX_VERSION))
logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/tasks", tags=["tasks"], route_class=StrictRoute)
# A task status, or the tasks held in quarantine by a projection.
TASK_STATUS_PATTERN = "^(" + "|".join([*TaskStatus, "quarantined"]) + ")$"
MinPosition = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="Wait (bounded) for the views to reach it."),
]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TaskPublic)
def create_task(
    body: TaskSpec,
    app: AppDep,
    references: ReferencesDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
    request: Request,
    principal: PrincipalDep,
    scope: ScopeDep,
) -> dict[str, Any]:
    """Create a task. The answer is read back from the tasks view after it applied the event."""
    require_executors(request, principal, {body.executor})
    scope.ensure_asked(body.namespace)
    scope.ensure_may_act(request, body.namespace, "creating a task")
    if body.depends_on:
        upstreams = references.within(body.namespace).upstreams(body.depends_on)
        body = body.model_copy(update={"depends_on": upstreams})
    result = app.create_task(body, ctx)
    response.headers["Location"] = f"/api/tasks/{result.aggregate_id}"
    return _answer(views, read_model, history, response, result.aggregate_id, result.position)


@router.get("", response_model=TasksPublic)
def list_tasks(
    read_model: ReadModelDep,
    views: ViewsDep,
    scope: ScopeDep,
    status_filter: Annotated[str | None, Query(alias="status", pattern=TASK_STATUS_PATTERN)] = None,
    name: Annotated[str | None, Query(max_length=200, description="Substring of the name.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    """List tasks by number (of one namespace with `namespace`); deleted tasks only with
    status=deleted."""
    views.ensure(min_position)
    items, total = read_model.list_tasks(
        status=status_filter, name=name, limit=limit, offset=offset, namespaces=scope.listed()
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{ref}", response_model=TaskPublic)
def get_task(
    ref: str,
    references: ReferencesDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    response: Response,
    min_position: MinPosition = None,
    as_of: AsOf = None,
    version: Version = None,
) -> dict[str, Any]:
    """A task by number, UUID or name, with its run statistics; or, with `as_of` or
    `version`, as it was then, rebuilt from its events (no statistics). While the tasks view
    lacks it, it is rebuilt from its events and marked `X-View-Stale: true`."""
    views.ensure(min_position)
    found = references.resource(ref)
    if found.from_log:
        mark_stale(response)
    task = found.task
    if as_of is not None or version is not None:
        return history.state_at("task", _uuid(task), as_of, version)
    try:
        task["stats"] = read_model.task_stats(_uuid(task))
    except Exception:  # the statistics view cannot be read: the task itself still can
        task["stats"] = None
        mark_stale(response)
    task["quarantine"] = views.quarantine_of(_uuid(task))
    return task


@router.patch("/{ref}", response_model=TaskPublic)
def update_task(
    ref: str,
    body: TaskUpdate,
    app: AppDep,
    references: ReferencesDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
    request: Request,
    principal: PrincipalDep,
    if_match: Annotated[
        str | None, Header(description="The version you read; 409 if it changed since.")
    ] = None,
) -> dict[str, Any]:
    """Change part of a task's definition; the whole result is validated again."""
    task_id = references.task_id(ref)
    changes = body.model_dump(exclude_unset=True)
    check_task_executors(request, principal, app, task_id, changes.get("executor"))
    if changes.get("depends_on"):
        changes["depends_on"] = references.upstreams(changes["depends_on"])
    result = app.update_task(task_id, changes, ctx, _expected_version(if_match))
    return _answer(views, read_model, history, response, task_id, result.position)


@router.delete("/{ref}", response_model=TaskPublic)
def delete_task(
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
    reason: Annotated[str, Query(max_length=1_000)] = "",
) -> dict[str, Any]:
    """Delete a task: it stops running and frees its name; its history stays."""
    task_id = references.task_id(ref)
    check_task_executors(request, principal, app, task_id)
    result = app.delete_task(task_id, reason, ctx)
    return _answer(views, read_model, history, response, task_id, result.position)


@router.post("/{ref}/pause", response_model=TaskPublic)
def pause_task(
    ref: str,
    app: AppDep,
    references: ReferencesDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
    body: Annotated[ReasonRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Pause a task: it fires nothing until resumed."""
    task_id = references.task_id(ref)
    result = app.pause_task(task_id, body.reason if body else "", ctx)
    return _answer(views, read_model, history, response, task_id, result.position)


@router.post("/{ref}/resume", response_model=TaskPublic)
def resume_task(
    ref: str,
    app: AppDep,
    references: ReferencesDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
) -> dict[str, Any]:
    """Resume a paused task."""
    task_id = references.task_id(ref)
    result = app.resume_task(task_id, ctx)
    return _answer(views, read_model, history, response, task_id, result.position)


@router.post("/{ref}/trigger", status_code=status.HTTP_202_ACCEPTED, response_model=TriggerAccepted)
def trigger_task(
    ref: str,
    app: AppDep,
    references: ReferencesDep,
    read_model: ReadModelDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
    rates: NamespaceRatesDep,
    body: Annotated[TriggerRequest | None, Body()] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="A repeat with the same key returns the same run.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Request a run now. 202: the run is pending; follow it at /api/runs/{run_id}."""
    task_id = references.task_id(ref)
    rates.charge_task(app, task_id)
    params = body.params if body else {}
    result = app.trigger_task(task_id, ctx, params=params, idempotency_key=idempotency_key)
    with log_context(run_id=result.aggregate_id, task_id=task_id):
        logger.info(
            "run requested" if result.created else "run already requested (same idempotency key)",
            extra={"action": "run_requested", "position": result.position},
        )
    fresh = views.wait(response, result.position)
    response.headers["Location"] = f"/api/runs/{result.aggregate_id}"
    run = read_model.run(result.aggregate_id) if fresh or not result.created else None
    if run is None:
        mark_stale(response)
    return {
        "run_id": str(result.aggregate_id),
        "task_id": app.task_number(task_id),
        "task_uuid": str(task_id),
        "status": run["status"] if run else "pending",
        "created": result.created,
        "position": result.position,
    }


@router.get("/{ref}/runs", response_model=RunsPublic)
def list_task_runs(
    ref: str,
    references: ReferencesDep,
    read_model: ReadModelDep,
    status_filter: Annotated[str | None, Query(alias="status", max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """A task's runs, newest first."""
    task = references.resource(ref).task
    items, total = read_model.list_runs(
        task_uuid=_uuid(task), status=status_filter, limit=limit, offset=offset
    )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _uuid(task: dict[str, Any]) -> UUID:
    return UUID(task["uuid"])


def _answer(
    views: Views,
    read_model: ReadModel,
    history: History,
    response: Response,
    task_id: UUID,
    position: int | None,
) -> dict[str, Any]:
    """The task after a command (from its events while the view is behind)."""
    task = views.after_command(
        response, "task", task_id, position, read_model.task_by_uuid, history.task_from_log
    )
    task["stats"] = None
    return task


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().strip('"').removeprefix("W/").strip('"')
    # The length before int(): Python refuses to convert thousands of digits at all.
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_VERSION_DIGITS:
        raise InvalidFieldError(
            "If-Match", f"must be the task's version number, e.g. 3 (at most {MAX_VERSION})"
        )
    if int(text) > MAX_VERSION:
        raise InvalidFieldError("If-Match", f"version {text} is beyond {MAX_VERSION}")
    return int(text)
