"""Task pages: the list, one task (definition, fire times, runs, history) and its actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from domain.errors import InvalidFieldError
from domain.statuses import TaskStatus
from entrypoints.api.deps import (
    AppDep,
    ContextDep,
    ReadDatabaseDep,
    ReadModelDep,
    ReferencesDep,
    ViewsDep,
)
from entrypoints.api.permissions import PrincipalDep, check_task_executors
from entrypoints.api.strict import StrictRoute
from entrypoints.web.actions import form_int, parse_json_object
from entrypoints.web.forms import FormDep, back_to
from entrypoints.web.queries import PageQueries
from entrypoints.web.task_page import TaskPageDep, TriggerForm
from entrypoints.web.templating import render

router = APIRouter(route_class=StrictRoute, include_in_schema=False)
PAGE = 50
TASK_STATUSES = (*TaskStatus, "quarantined")
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/tasks", response_class=HTMLResponse)
def task_list(
    request: Request,
    read_model: ReadModelDep,
    database: ReadDatabaseDep,
    principal: PrincipalDep,
    status: Annotated[str | None, Query(max_length=30)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Offset = 0,
) -> HTMLResponse:
    """Tasks by number: filter by status, search the name, page by 50."""
    chosen = status if status in TASK_STATUSES else None
    items, total = read_model.list_tasks(status=chosen, name=q or None, limit=PAGE, offset=offset)
    last = PageQueries(database).last_runs([t["uuid"] for t in items])
    return render(
        request,
        "tasks.html",
        principal,
        tasks=items,
        total=total,
        offset=offset,
        page=PAGE,
        status=chosen,
        q=q or "",
        statuses=TASK_STATUSES,
        last=last,
    )


@router.get("/tasks/{ref}", response_class=HTMLResponse)
def task_page(
    ref: str,
    request: Request,
    page: TaskPageDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    compare: Annotated[int | None, Query(ge=1, le=2**31)] = None,
) -> HTMLResponse:
    """One task: definition, next 10 fire times in its zone, runs, history and actions."""
    return page.render(request, principal, ref, offset, compare)


@router.post("/tasks/{ref}/trigger")
def trigger(
    ref: str,
    request: Request,
    app: AppDep,
    references: ReferencesDep,
    views: ViewsDep,
    page: TaskPageDep,
    ctx: ContextDep,
    principal: PrincipalDep,
    form: FormDep,
) -> Response:
    """Request a run now, with parameters; then show the run (refused parameters: inline)."""
    task_id = references.task_id(ref)
    text = form.get("params", "")
    try:
        params = parse_json_object(text, "params")
        result = app.trigger_task(task_id, ctx, params=params or None)
    except InvalidFieldError as error:
        if error.field != "params":
            raise
        return page.render(request, principal, ref, trigger=TriggerForm(text, error.message))
    views.settle(result.position)
    return back_to(f"/ui/runs/{result.aggregate_id}")


@router.post("/tasks/{ref}/pause")
def pause(
    ref: str,
    app: AppDep,
    references: ReferencesDep,
    views: ViewsDep,
    ctx: ContextDep,
    form: FormDep,
) -> Response:
    """Pause the task."""
    task_id = references.task_id(ref)
    views.settle(app.pause_task(task_id, form.get("reason", ""), ctx).position)
    return back_to(f"/ui/tasks/{task_id}")


@router.post("/tasks/{ref}/resume")
def resume(
    ref: str,
    app: AppDep,
    references: ReferencesDep,
    views: ViewsDep,
    ctx: ContextDep,
    form: FormDep,
) -> Response:
    """Resume the task."""
    task_id = references.task_id(ref)
    views.settle(app.resume_task(task_id, ctx).position)
    return back_to(f"/ui/tasks/{task_id}")


@router.post("/tasks/{ref}/delete")
def delete(
    ref: str,
    request: Request,
    app: AppDep,
    references: ReferencesDep,
    views: ViewsDep,
    ctx: ContextDep,
    principal: PrincipalDep,
    form: FormDep,
) -> Response:
    """Delete the task; its history stays."""
    task_id = references.task_id(ref)
    check_task_executors(request, principal, app, task_id)
    views.settle(app.delete_task(task_id, form.get("reason", ""), ctx).position)
    return back_to("/ui/tasks")


@router.post("/tasks/{ref}/rollback")
def rollback(
    ref: str,
    request: Request,
    app: AppDep,
    references: ReferencesDep,
    views: ViewsDep,
    ctx: ContextDep,
    principal: PrincipalDep,
    form: FormDep,
) -> Response:
    """Restore the definition of an earlier version, as a new update."""
    task_id = references.task_id(ref)
    version = form_int(form, "version")
    check_task_executors(request, principal, app, task_id, version=version)
    views.settle(app.rollback_task(task_id, version, ctx).position)
    return back_to(f"/ui/tasks/{task_id}")
