"""Projections (status, lag, last rebuild), the quarantine, the audit head; API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from entrypoints.api.deps import AppDep, ClockDep, ReadDatabaseDep
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.strict import StrictRoute
from entrypoints.web.status import StatusDep
from entrypoints.web.templating import render
from projections.api_keys import read_keys

router = APIRouter(route_class=StrictRoute, include_in_schema=False)


@router.get("/system", response_class=HTMLResponse)
def system_page(
    request: Request, status: StatusDep, app: AppDep, principal: PrincipalDep
) -> HTMLResponse:
    """What the views, the dispatchers and the quarantine say, and where the log stands."""
    return render(
        request,
        "system.html",
        principal,
        projections=status.projections(),
        dispatchers=status.dispatchers(),
        quarantine=status.quarantine(),
        log_head=app.head_position(),
        audit_head=status.audit_head(),
    )


@router.get("/keys", response_class=HTMLResponse)
def keys_page(
    request: Request, database: ReadDatabaseDep, clock: ClockDep, principal: PrincipalDep
) -> HTMLResponse:
    """Every API key (admin only): never the key nor its hash."""
    now = clock.now()
    keys = [row.public(now) for row in read_keys(database)]
    return render(request, "keys.html", principal, keys=keys)
