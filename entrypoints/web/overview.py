"""The overview: what runs, what failed and why, who works, and whether the system keeps up."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from entrypoints.api.deps import ClockDep, ReadDatabaseDep, ReadModelDep
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.strict import StrictRoute
from entrypoints.web.queries import PageQueries
from entrypoints.web.status import StatusDep
from entrypoints.web.templating import render

router = APIRouter(route_class=StrictRoute, include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    read_model: ReadModelDep,
    database: ReadDatabaseDep,
    status: StatusDep,
    clock: ClockDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    """Counts, rate, failures, workers, projections, quarantine and dispatchers."""
    queries = PageQueries(database)
    return render(
        request,
        "overview.html",
        principal,
        counts=read_model.counts(),
        rate=queries.runs_per_minute(clock.now()),
        failures=queries.recent_failures(),
        projections=status.projections(),
        quarantine=status.quarantine()[:20],
        dispatchers=status.dispatchers(),
    )
