"""Run pages: the live list and one run (attempts, output, why it waits or failed, events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from domain.errors import NotFoundError
from domain.statuses import RunStatus
from entrypoints.api.deps import (
    AppDep,
    ContextDep,
    HistoryDep,
    ReadModelDep,
    ReferencesDep,
    ViewsDep,
    parse_run_id,
)
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.strict import StrictRoute
from entrypoints.web.forms import FormDep, back_to
from entrypoints.web.templating import render

router = APIRouter(route_class=StrictRoute, include_in_schema=False)
PAGE = 50
ACTIVE = ("pending", "assigned", "running", "retrying")  # a cancel can still stop them


@router.get("/runs", response_class=HTMLResponse)
def run_list(
    request: Request,
    references: ReferencesDep,
    read_model: ReadModelDep,
    principal: PrincipalDep,
    status: Annotated[str | None, Query(max_length=30)] = None,
    task: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> HTMLResponse:
    """Runs, newest first, by status and task, paged by log position; updated live."""
    chosen = status if status in tuple(RunStatus) else None
    task_uuid = references.task_id(task, field="task") if task else None
    if after is not None:
        before = None  # one cursor at a time: the links never send both
    items, total = read_model.list_runs(
        task_uuid=task_uuid, status=chosen, limit=PAGE + 1, offset=0, before=before, after=after
    )
    more = len(items) > PAGE  # one run beyond the page, on the side the page moved to
    runs = items[-PAGE:] if after is not None else items[:PAGE]
    return render(
        request,
        "runs.html",
        principal,
        runs=runs,
        total=total,
        newer=bool(runs) and (more if after is not None else before is not None),
        older=bool(runs) and (more if after is None else after > 0),
        status=chosen,
        task=task or "",
        statuses=tuple(RunStatus),
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    run_id: str,
    request: Request,
    read_model: ReadModelDep,
    history: HistoryDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    """One run: status, attempt timeline, output tail, reason, its events; cancel."""
    key = parse_run_id(run_id)
    run = read_model.run(key) or history.run_from_log(key)
    if run is None:
        raise NotFoundError("run", run_id)
    events = history.records(key, "run")
    return render(
        request, "run.html", principal, run=run, events=events, active=run["status"] in ACTIVE
    )


@router.post("/runs/{run_id}/cancel")
def cancel(run_id: str, app: AppDep, views: ViewsDep, ctx: ContextDep, form: FormDep) -> Response:
    """Cancel the run; a running process is killed."""
    result = app.cancel_run(parse_run_id(run_id), f"cancelled by {ctx.actor}", ctx)
    views.settle(result.position)
    return back_to(f"/ui/runs/{result.aggregate_id}")
