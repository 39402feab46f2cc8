"""Projections (status, lag, last rebuild), the quarantine, the audit head; API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from entrypoints.api.deps import ContainerDep
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.strict import StrictRoute
from entrypoints.web.overview import dispatcher_states, projection_states
from entrypoints.web.templating import render
from projections.api_keys import read_keys

router = APIRouter(route_class=StrictRoute, include_in_schema=False)


@router.get("/system", response_class=HTMLResponse)
def system_page(request: Request, container: ContainerDep, principal: PrincipalDep) -> HTMLResponse:
    """What the views, the dispatchers and the quarantine say, and where the log stands."""
    return render(
        request,
        "system.html",
        principal,
        projections=projection_states(container),
        dispatchers=dispatcher_states(container),
        quarantine=container.quarantine.entries(),
        log_head=container.app.head_position(),
    )


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request, container: ContainerDep, principal: PrincipalDep) -> HTMLResponse:
    """Every API key (admin only): never the key nor its hash."""
    now = container.clock.now()
    keys = [row.public(now) for row in read_keys(container.database)]
    return render(request, "keys.html", principal, keys=keys)
