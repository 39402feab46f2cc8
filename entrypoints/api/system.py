"""Health, statistics and the Prometheus endpoint."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from application.quarantine import HELD
from domain.errors import NotFoundError
from entrypoints.api.deps import (
    AppDep,
    BreakersDep,
    BusDep,
    HealthConfigDep,
    QuarantineDep,
    ReadDatabaseDep,
    ReadModelDep,
    ReplicaDep,
    RunnersDep,
)
from entrypoints.api.health_checks import (
    dispatch_check,
    projection_checks,
    quarantine_check,
    redacted,
    replica_check,
)
from entrypoints.api.json_response import OrjsonResponse
from entrypoints.api.namespace_scope import EVERY_NAMESPACE
from entrypoints.api.schemas import QuarantinePublic, QuarantineRequestAccepted
from entrypoints.api.strict import StrictRoute
from projections.status import now_utc


class QuarantineAction(StrEnum):
    """What an operator may ask of a held aggregate."""

    retry = "retry"
    release = "release"


router = APIRouter(tags=["system"], route_class=StrictRoute)


@router.get("/health")
def health(
    app: AppDep,
    database: ReadDatabaseDep,
    runners: RunnersDep,
    bus: BusDep,
    quarantine: QuarantineDep,
    breakers: BreakersDep,
    config: HealthConfigDep,
    replica: ReplicaDep,
) -> JSONResponse:
    """Liveness of the event store, the views, the bus and dispatch, with each projection's lag
    and every quarantined aggregate.

    503 `degraded` when a dependency is down or dispatch cannot make progress (no dispatcher
    beating, or every one failing its rounds). A projection that fails, is far behind or is
    stuck makes it 200 `lagging`: the process still serves, but reads may be stale (a 503
    would make an orchestrator kill or unroute a process that is catching up). Aggregates in
    quarantine make it 200 `quarantined` and are named under checks.quarantine.
    A read replica (`[database] read_url`) that is down or behind by more than
    read_max_lag_seconds makes it 200 `lagging` too: reads are served, from the primary
    (checks.read_replica says which server serves them).
    """
    checks: dict[str, Any] = {}
    healthy, lagging, quarantined = True, False, False
    try:
        head = app.head_position()
        checks["event_store"] = {"status": "ok", "head": head}
    except Exception as error:
        healthy = False
        checks["event_store"] = {"status": "down", "error": str(error)}
    try:
        checks["projections"] = projection_checks(database, app, runners)
        lagging = any(p["status"] != "ok" for p in checks["projections"].values())
    except Exception as error:
        healthy = False
        checks["projections"] = {"status": "down", "error": str(error)}
    try:
        bus.ping()
        checks["message_queue"] = {"status": "ok", "type": config.queue_type}
    except Exception as error:
        healthy = False
        checks["message_queue"] = {"status": "down", "error": str(error)}
    try:
        checks["dispatch"] = dispatch_check(database, config.dispatcher_stale_after)
        healthy = healthy and checks["dispatch"]["status"] == "ok"
    except Exception as error:
        healthy = False
        checks["dispatch"] = {"status": "down", "error": str(error)}
    try:
        checks["quarantine"] = quarantine_check(quarantine)
        quarantined = checks["quarantine"]["count"] > 0
    except Exception as error:
        checks["quarantine"] = {"status": "unknown", "error": str(error)}
    if replica is not None:
        checks["read_replica"] = replica_check(replica)
        lagging = lagging or checks["read_replica"]["status"] != "ok"
    checks["circuit_breakers"] = {n: b.snapshot() for n, b in breakers.all().items()}
    status = (
        "degraded"
        if not healthy
        else "lagging"
        if lagging
        else "quarantined"
        if quarantined
        else "ok"
    )
    body = {"status": status, "checks": redacted(checks, config.secrets)}
    return OrjsonResponse(status_code=200 if healthy else 503, content=body)


@router.get("/api/system/quarantine", response_model=QuarantinePublic, dependencies=EVERY_NAMESPACE)
def list_quarantine(
    quarantine: QuarantineDep,
    consumer: Annotated[str | None, Query(max_length=100)] = None,
    aggregate_id: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[
        str | None,
        Query(
            pattern="^(held|released|resolved|all)$",
            description="held (default): still held; all: with the closed entries.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Aggregates a consumer of the log could not handle: which, where, why, and since when."""
    statuses = None if status == "all" else (status or HELD,)
    entries = quarantine.entries(
        consumer, statuses=statuses, aggregate_ids=[aggregate_id] if aggregate_id else None
    )
    return {"items": [e.as_record() for e in entries], "total": len(entries)}


@router.post(
    "/api/system/quarantine/{aggregate_id}/{action}",
    response_model=QuarantineRequestAccepted,
    status_code=202,
    dependencies=EVERY_NAMESPACE,
)
def request_quarantine_action(
    aggregate_id: str, action: QuarantineAction, app: AppDep, quarantine: QuarantineDep
) -> dict[str, Any]:
    """Ask every consumer holding the aggregate to retry its events or to release them.

    A retry re-applies the held events once their cause is fixed (say, after a corrective
    update); a release gives up on them up to the log head and applies later ones normally.
    The running consumers act within a few seconds; follow GET /api/system/quarantine.
    """
    through = app.head_position()
    count = quarantine.request(aggregate_id, action.value, through, now_utc())
    if count == 0:
        raise NotFoundError("held aggregate", aggregate_id)
    return {
        "aggregate_id": aggregate_id,
        "action": action.value,
        "entries": count,
        "through": through,
    }


@router.get("/api/system/stats", response_class=OrjsonResponse, dependencies=EVERY_NAMESPACE)
def system_stats(app: AppDep, read_model: ReadModelDep) -> dict[str, Any]:
    """Counts of tasks, runs and workers by status, and the log head."""
    return {"log_head": app.head_position(), **read_model.counts()}
