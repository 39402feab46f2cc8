"""Health, statistics and the Prometheus endpoint."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from application.quarantine import HELD
from domain.errors import NotFoundError
from entrypoints.api.deps import ContainerDep, ReadModelDep
from entrypoints.api.schemas import QuarantinePublic, QuarantineRequestAccepted
from entrypoints.api.strict import StrictRoute
from entrypoints.bootstrap import Container
from entrypoints.redaction import redact
from projections.dispatcher_status import read_dispatchers
from projections.status import now_utc, read_states

HEALTH_SHOWN = 20  # quarantined aggregates named by /health (all of them: /api/system/quarantine)


class QuarantineAction(StrEnum):
    """What an operator may ask of a held aggregate."""

    retry = "retry"
    release = "release"


router = APIRouter(tags=["system"], route_class=StrictRoute)


@router.get("/health")
def health(container: ContainerDep) -> JSONResponse:
    """Liveness of the event store, the views, the bus and dispatch, with each projection's lag
    and every quarantined aggregate.

    503 `degraded` when a dependency is down or dispatch cannot make progress (no dispatcher
    beating, or every one failing its rounds). A projection that fails, is far behind or is
    stuck makes it 200 `lagging`: the process still serves, but reads may be stale (a 503
    would make an orchestrator kill or unroute a process that is catching up). Aggregates in
    quarantine make it 200 `quarantined` and are named under checks.quarantine.
    """
    checks: dict[str, Any] = {}
    healthy, lagging, quarantined = True, False, False
    try:
        head = container.app.head_position()
        checks["event_store"] = {"status": "ok", "head": head}
    except Exception as error:
        healthy = False
        checks["event_store"] = {"status": "down", "error": str(error)}
    try:
        checks["projections"] = _projections(container)
        lagging = any(p["status"] != "ok" for p in checks["projections"].values())
    except Exception as error:
        healthy = False
        checks["projections"] = {"status": "down", "error": str(error)}
    try:
        container.bus.ping()
        checks["message_queue"] = {"status": "ok", "type": container.settings.message_queue.type}
    except Exception as error:
        healthy = False
        checks["message_queue"] = {"status": "down", "error": str(error)}
    try:
        checks["dispatch"] = _dispatch(container)
        healthy = healthy and checks["dispatch"]["status"] == "ok"
    except Exception as error:
        healthy = False
        checks["dispatch"] = {"status": "down", "error": str(error)}
    try:
        checks["quarantine"] = _quarantine(container)
        quarantined = checks["quarantine"]["count"] > 0
    except Exception as error:
        checks["quarantine"] = {"status": "unknown", "error": str(error)}
    checks["circuit_breakers"] = {n: b.snapshot() for n, b in container.breakers.all().items()}
    status = (
        "degraded"
        if not healthy
        else "lagging"
        if lagging
        else "quarantined"
        if quarantined
        else "ok"
    )
    body = {"status": status, "checks": _redacted(checks, container.settings.connection_secrets)}
    return JSONResponse(status_code=200 if healthy else 503, content=body)


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    """Driver errors quoted in the checks, with the database and bus passwords masked."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    return value


def _projections(container: Container) -> dict[str, dict[str, Any]]:
    """Each projection's position, lag and last error; degraded if failing, far behind or stuck."""
    in_process = {r.projection.name: r.status.last_error for r in container.runners}
    states = read_states(
        container.database, container.app, [r.projection for r in container.runners]
    )
    now = now_utc()
    checks = {}
    for state in states:
        # The stored error is seen by every process; this process's own may not be stored yet.
        state.last_error = state.last_error or in_process.get(state.name)
        problem = state.problem(now)
        checks[state.name] = {
            "status": "degraded" if problem else "ok",
            "position": state.position,
            "lag": state.lag,
            "last_error": state.last_error,
            "last_error_at": state.last_error_at.isoformat() if state.last_error_at else None,
            "reason": problem,
        }
    return checks


def _dispatch(container: Container) -> dict[str, Any]:
    """Whether some dispatcher beats and completes its rounds; each one's last beat."""
    now = now_utc()
    stale_after = timedelta(seconds=container.settings.dispatcher.stale_after_seconds)
    dispatchers = [d.as_record(now, stale_after) for d in read_dispatchers(container.database, now)]
    working = [d for d in dispatchers if d["status"] in ("running", "starting")]
    if working:
        return {"status": "ok", "dispatchers": dispatchers}
    reason = (
        "no dispatcher has ever beaten"
        if not dispatchers
        else "no dispatcher is running: "
        + ", ".join(f"{d['name']} {d['status']}" for d in dispatchers)
    )
    return {"status": "degraded", "reason": reason, "dispatchers": dispatchers}


def _quarantine(container: Container) -> dict[str, Any]:
    entries = container.quarantine.entries()
    return {
        "status": "ok" if not entries else "quarantined",
        "count": len(entries),
        "aggregates": [
            {
                "consumer": e.consumer,
                "aggregate_id": e.aggregate_id,
                "aggregate_type": e.aggregate_type,
                "position": e.position,
                "error": e.error,
            }
            for e in entries[:HEALTH_SHOWN]
        ],
    }


@router.get("/api/system/quarantine", response_model=QuarantinePublic)
def list_quarantine(
    container: ContainerDep,
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
    entries = container.quarantine.entries(
        consumer, statuses=statuses, aggregate_ids=[aggregate_id] if aggregate_id else None
    )
    return {"items": [e.as_record() for e in entries], "total": len(entries)}


@router.post(
    "/api/system/quarantine/{aggregate_id}/{action}",
    response_model=QuarantineRequestAccepted,
    status_code=202,
)
def request_quarantine_action(
    aggregate_id: str, action: QuarantineAction, container: ContainerDep
) -> dict[str, Any]:
    """Ask every consumer holding the aggregate to retry its events or to release them.

    A retry re-applies the held events once their cause is fixed (say, after a corrective
    update); a release gives up on them up to the log head and applies later ones normally.
    The running consumers act within a few seconds; follow GET /api/system/quarantine.
    """
    through = container.app.head_position()
    count = container.quarantine.request(aggregate_id, action.value, through, now_utc())
    if count == 0:
        raise NotFoundError("held aggregate", aggregate_id)
    return {
        "aggregate_id": aggregate_id,
        "action": action.value,
        "entries": count,
        "through": through,
    }


@router.get("/api/system/stats")
def system_stats(container: ContainerDep, read_model: ReadModelDep) -> dict[str, Any]:
    """Counts of tasks, runs and workers by status, and the log head."""
    return {"log_head": container.app.head_position(), **read_model.counts()}
