"""The worker pool: status, load, labels, last heartbeat; drain."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from entrypoints.api.deps import (
    AppDep,
    ContextDep,
    LivenessDep,
    ReadModelDep,
    ViewsDep,
    parse_id,
)
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.strict import StrictRoute
from entrypoints.web.forms import FormDep, back_to
from entrypoints.web.templating import render

router = APIRouter(route_class=StrictRoute, include_in_schema=False)
PAGE = 100


@router.get("/workers", response_class=HTMLResponse)
def worker_list(
    request: Request,
    read_model: ReadModelDep,
    liveness: LivenessDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """Every worker with its load and liveness, 100 a page."""
    workers = read_model.list_workers(status=None)
    shown = workers[offset : offset + PAGE]
    for worker in shown:
        worker["last_heartbeat_at"] = liveness.last_seen(UUID(worker["id"]))
    return render(
        request,
        "workers.html",
        principal,
        workers=shown,
        total=len(workers),
        offset=offset,
        page=PAGE,
    )


@router.post("/workers/{worker_id}/drain")
def drain(worker_id: str, app: AppDep, views: ViewsDep, ctx: ContextDep, form: FormDep) -> Response:
    """Ask the worker to take no new work, finish what it runs, then deregister."""
    result = app.drain_worker(parse_id("worker", worker_id), f"drain requested by {ctx.actor}", ctx)
    views.settle(result.position)
    return back_to("/ui/workers")
