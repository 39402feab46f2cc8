"""Health, statistics and the Prometheus endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from entrypoints.api.deps import ContainerDep, ReadModelDep
from entrypoints.api.strict import StrictRoute
from entrypoints.bootstrap import Container
from projections.status import now_utc, read_states

router = APIRouter(tags=["system"], route_class=StrictRoute)


@router.get("/health")
def health(container: ContainerDep) -> JSONResponse:
    """Liveness of the event store, the views and the bus, with each projection's lag.

    503 `degraded` when a dependency is down. A projection that fails, is far behind or is
    stuck makes it 200 `lagging`: the process still serves, but reads may be stale (a 503
    would make an orchestrator kill or unroute a process that is catching up).
    """
    checks: dict[str, Any] = {}
    healthy, lagging = True, False
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
    checks["circuit_breakers"] = {n: b.snapshot() for n, b in container.breakers.all().items()}
    status = "degraded" if not healthy else "lagging" if lagging else "ok"
    body = {"status": status, "checks": checks}
    return JSONResponse(status_code=200 if healthy else 503, content=body)


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


@router.get("/api/system/stats")
def system_stats(container: ContainerDep, read_model: ReadModelDep) -> dict[str, Any]:
    """Counts of tasks, runs and workers by status, and the log head."""
    return {"log_head": container.app.head_position(), **read_model.counts()}
