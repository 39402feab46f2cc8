"""The overview: what runs, what failed and why, who works, and whether the system keeps up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from entrypoints.api.deps import ContainerDep, ReadModelDep
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.strict import StrictRoute
from entrypoints.bootstrap import Container
from entrypoints.web.queries import PageQueries
from entrypoints.web.templating import render
from projections.dispatcher_status import read_dispatchers
from projections.status import read_states

router = APIRouter(route_class=StrictRoute, include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request, container: ContainerDep, read_model: ReadModelDep, principal: PrincipalDep
) -> HTMLResponse:
    """Counts, rate, failures, workers, projections, quarantine and dispatchers."""
    now = container.clock.now()
    queries = PageQueries(container.database)
    return render(
        request,
        "overview.html",
        principal,
        counts=read_model.counts(),
        rate=queries.runs_per_minute(now),
        failures=queries.recent_failures(),
        projections=projection_states(container),
        quarantine=container.quarantine.entries()[:20],
        dispatchers=dispatcher_states(container),
    )


def projection_states(container: Container) -> list[dict[str, Any]]:
    """Each projection's position, lag and problem (as /health reports them)."""
    states = read_states(
        container.database, container.app, [r.projection for r in container.runners]
    )
    now = datetime.now(UTC)
    return [
        {
            "name": s.name,
            "position": s.position,
            "lag": s.lag,
            "problem": s.problem(now),
            "rebuilt_at": s.rebuilt_at,
        }
        for s in states
    ]


def dispatcher_states(container: Container) -> list[dict[str, Any]]:
    """Every dispatcher heard from lately, with its status."""
    now = datetime.now(UTC)
    stale = timedelta(seconds=container.settings.dispatcher.stale_after_seconds)
    return [d.as_record(now, stale) for d in read_dispatchers(container.database, now)]
