"""Worker routes: the pool's membership, load and liveness; registration and heartbeats."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from application.messages import Heartbeat
from domain.errors import NotFoundError
from domain.statuses import WorkerStatus
from entrypoints.api.deps import (
    ContainerDep,
    ContextDep,
    ReadModelDep,
    answer_from_view,
    parse_id,
    quarantine_of,
    view_or_log,
    worker_from_log,
)
from entrypoints.api.history import AsOf, Version, stored_events
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.schemas import WorkerHeartbeat, WorkerPublic, WorkerRegister
from entrypoints.api.strict import StrictRoute
from entrypoints.bootstrap import Container
from entrypoints.reconstruct import events_at

router = APIRouter(prefix="/api/workers", tags=["workers"], route_class=StrictRoute)
WORKER_STATUS_PATTERN = "^(" + "|".join(WorkerStatus) + ")$"


def _with_liveness(container: Container, worker: dict[str, Any]) -> dict[str, Any]:
    seen = container.liveness.last_seen(UUID(worker["id"]))
    worker["last_heartbeat_at"] = seen
    return worker


@router.get("", response_model=list[WorkerPublic])
def list_workers(
    container: ContainerDep,
    read_model: ReadModelDep,
    status_filter: Annotated[
        str | None, Query(alias="status", pattern=WORKER_STATUS_PATTERN)
    ] = None,
) -> list[dict[str, Any]]:
    """Workers with load (running / max_concurrent_tasks), status and last heartbeat."""
    return [_with_liveness(container, w) for w in read_model.list_workers(status=status_filter)]


@router.get("/{worker_id}", response_model=WorkerPublic)
def get_worker(
    worker_id: str,
    container: ContainerDep,
    read_model: ReadModelDep,
    response: Response,
    as_of: AsOf = None,
    version: Version = None,
) -> dict[str, Any]:
    """One worker; or, with `as_of` or `version`, its membership as it was then (no load)."""
    if as_of is not None or version is not None:
        events = stored_events(container, parse_id("worker", worker_id), "worker")
        then = container.time_travel.worker_state(events_at(events, "worker", as_of, version))
        assert then is not None
        return then
    key = parse_id("worker", worker_id)
    worker = view_or_log(container, response, key, read_model.worker, worker_from_log)
    if worker is None:
        raise NotFoundError("worker", worker_id)
    worker["quarantine"] = quarantine_of(container, key)
    return _with_liveness(container, worker)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WorkerPublic)
def register_worker(
    body: WorkerRegister,
    container: ContainerDep,
    read_model: ReadModelDep,
    ctx: ContextDep,
    response: Response,
) -> dict[str, Any]:
    """Register a worker (for workers that join over HTTP); then send heartbeats."""
    result = container.app.register_worker_profile(body.to_profile(), ctx)
    container.bus.publish_heartbeat(Heartbeat(result.aggregate_id, body.name))
    worker = answer_from_view(
        container,
        response,
        "worker",
        result.aggregate_id,
        result.position,
        read_model.worker,
        worker_from_log,
    )
    return _with_liveness(container, worker)


@router.post("/{worker_id}/heartbeat", status_code=status.HTTP_204_NO_CONTENT)
def heartbeat(
    worker_id: str,
    container: ContainerDep,
    read_model: ReadModelDep,
    request: Request,
    principal: PrincipalDep,
    body: WorkerHeartbeat | None = None,
) -> Response:
    """Renew a worker's lease at every dispatcher. Heartbeats are liveness, not events.

    A key of role `worker` may beat only for the workers it registered itself."""
    parsed = parse_id("worker", worker_id)
    worker = container.app.get_worker(parsed)  # the write side: the view may be behind
    if principal.role == "worker":
        _ensure_registered_by(request, container, parsed, principal.actor)
    running = tuple((r.run_id, r.attempt) for r in (body or WorkerHeartbeat()).running)
    container.bus.publish_heartbeat(Heartbeat(parsed, worker.name, running))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _ensure_registered_by(
    request: Request, container: Container, worker_id: UUID, actor: str
) -> None:
    registered = container.app.aggregate_events(worker_id)[0]
    by = (getattr(registered, "metadata", None) or {}).get("actor")
    if by != actor:
        request.app.state.container.metrics.auth_denied.labels(reason="forbidden").inc()
        raise HTTPException(
            status_code=403,
            detail=f"forbidden: worker {worker_id} was registered by {by}, not by {actor};"
            " a worker key beats only for the workers it registered",
        )


@router.post("/{worker_id}/drain", response_model=WorkerPublic)
def drain_worker(
    worker_id: str,
    container: ContainerDep,
    read_model: ReadModelDep,
    ctx: ContextDep,
    response: Response,
) -> dict[str, Any]:
    """Ask a worker to take no new work, finish what it runs, then deregister."""
    result = container.app.drain_worker(
        parse_id("worker", worker_id), f"drain requested by {ctx.actor}", ctx
    )
    worker = answer_from_view(
        container,
        response,
        "worker",
        result.aggregate_id,
        result.position,
        read_model.worker,
        worker_from_log,
    )
    return _with_liveness(container, worker)
