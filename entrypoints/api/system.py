"""Health, statistics and the Prometheus endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from entrypoints.api.deps import ContainerDep, ReadModelDep

router = APIRouter(tags=["system"])


@router.get("/health")
def health(container: ContainerDep) -> JSONResponse:
    """Liveness of the event store and the views, with each projection's lag."""
    checks: dict[str, Any] = {}
    healthy = True
    try:
        head = container.app.head_position()
        checks["event_store"] = {"status": "ok", "head": head}
    except Exception as error:
        head, healthy = None, False
        checks["event_store"] = {"status": "down", "error": str(error)}
    try:
        positions = container.waiter.positions()
        checks["projections"] = {
            runner.projection.name: {
                "position": positions.get(runner.projection.name, 0),
                "lag": None if head is None else head - positions.get(runner.projection.name, 0),
                "last_error": runner.status.last_error,
            }
            for runner in container.runners
        }
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
    body = {"status": "ok" if healthy else "degraded", "checks": checks}
    return JSONResponse(status_code=200 if healthy else 503, content=body)


@router.get("/api/system/stats")
def system_stats(container: ContainerDep, read_model: ReadModelDep) -> dict[str, Any]:
    """Counts of tasks, runs and workers by status, and the log head."""
    return {"log_head": container.app.head_position(), **read_model.counts()}
