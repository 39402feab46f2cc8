"""Projections (status, lag, rebuilds with progress), the quarantine, the audit head; API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from application.audit_check import MAX_CHECKED_EVENTS
from application.commands.app import SchedulerApp
from domain.principal import Principal
from entrypoints.api.audit import AuditDep
from entrypoints.api.deps import AppDep, ClockDep, ContextDep, ReadDatabaseDep, RebuildJobsDep
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.strict import StrictRoute
from entrypoints.rebuild_jobs import RUNNING, RebuildJobs
from entrypoints.web.forms import FormDep, back_to
from entrypoints.web.status import StatusDep, SystemStatus
from entrypoints.web.templating import render
from projections.api_keys import read_keys
from projections.rebuild import RebuildLockedError

router = APIRouter(route_class=StrictRoute, include_in_schema=False)


@router.get("/system", response_class=HTMLResponse)
def system_page(
    request: Request,
    status: StatusDep,
    app: AppDep,
    jobs: RebuildJobsDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    """What the views, the dispatchers and the quarantine say, where the log stands, and the
    rebuilds started here (polled while one runs: a rebuild writes no event to follow)."""
    return _system(request, status, app, jobs, principal)


@router.post("/system/projections/{name}/rebuild", response_model=None)
def rebuild(
    name: str,
    request: Request,
    status: StatusDep,
    app: AppDep,
    jobs: RebuildJobsDep,
    principal: PrincipalDep,
    ctx: ContextDep,
    form: FormDep,
) -> Response:
    """Start rebuilding a projection (admin); its progress shows on the system page."""
    try:
        jobs.start(name, ctx.actor)
    except RebuildLockedError as error:  # running here or elsewhere: say so on the page
        return _system(request, status, app, jobs, principal, str(error), status_code=409)
    return back_to("/ui/system")


@router.post("/system/audit/verify", response_class=HTMLResponse)
def verify_audit_chain(
    request: Request,
    status: StatusDep,
    app: AppDep,
    jobs: RebuildJobsDep,
    principal: PrincipalDep,
    check: AuditDep,
    form: FormDep,
) -> HTMLResponse:
    """Recompute the chain (the newest million events at most) and show what was found."""
    head = app.head_position()
    start = max(head - MAX_CHECKED_EVENTS + 1, 1) if head > MAX_CHECKED_EVENTS else None
    verified = check.verify(start, None, {})
    return _system(request, status, app, jobs, principal, verified=verified)


def _system(
    request: Request,
    status: SystemStatus,
    app: SchedulerApp,
    jobs: RebuildJobs,
    principal: Principal,
    refused: str | None = None,
    status_code: int = 200,
    verified: dict[str, Any] | None = None,
) -> HTMLResponse:
    rebuilds = [job.as_record() for job in jobs.all()]
    return render(
        request,
        "system.html",
        principal,
        status_code,
        projections=status.projections(),
        dispatchers=status.dispatchers(),
        quarantine=status.quarantine(),
        log_head=app.head_position(),
        audit_head=status.audit_head(),
        rebuilds=rebuilds,
        rebuilding=any(r["status"] == RUNNING for r in rebuilds),
        refused=refused,
        verified=verified,
    )


@router.get("/keys", response_class=HTMLResponse)
def keys_page(
    request: Request, database: ReadDatabaseDep, clock: ClockDep, principal: PrincipalDep
) -> HTMLResponse:
    """Every API key (admin only): never the key nor its hash."""
    now = clock.now()
    keys = [row.public(now) for row in read_keys(database)]
    return render(request, "keys.html", principal, keys=keys)
