"""Worker routes: the pool's membership, load and liveness; registration and heartbeats."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from application.dispatch.liveness import LivenessStore
from application.messages import Heartbeat
from domain.statuses import WorkerStatus
from entrypoints.api.deps import (
    AppDep,
    BusDep,
    ContextDep,
    HistoryDep,
    LivenessDep,
    ReadModelDep,
    ViewsDep,
    parse_id,
)
from entrypoints.api.history import AsOf, Version
from entrypoints.api.namespace_scope import ScopeDep
from entrypoints.api.permissions import PrincipalDep, count_forbidden
from entrypoints.api.schemas import WorkerHeartbeat, WorkerPublic, WorkerRegister
from entrypoints.api.strict import StrictRoute
from entrypoints.api.visible import visible_worker

router = APIRouter(prefix="/api/workers", tags=["workers"], route_class=StrictRoute)
WORKER_STATUS_PATTERN = "^(" + "|".join(WorkerStatus) + ")$"


def _with_liveness(liveness: LivenessStore, worker: dict[str, Any]) -> dict[str, Any]:
    seen = liveness.last_seen(UUID(worker["id"]))
    worker["last_heartbeat_at"] = seen
    return worker


@router.get("", response_model=list[WorkerPublic])
def list_workers(
    liveness: LivenessDep,
    read_model: ReadModelDep,
    scope: ScopeDep,
    status_filter: Annotated[
        str | None, Query(alias="status", pattern=WORKER_STATUS_PATTERN)
    ] = None,
) -> list[dict[str, Any]]:
    """Workers with load (running / max_concurrent_tasks), status and last heartbeat; with
    `namespace`, those serving it."""
    workers = read_model.list_workers(status=status_filter, namespaces=scope.listed())
    return [_with_liveness(liveness, w) for w in workers]


@router.get("/{worker_id}", response_model=WorkerPublic)
def get_worker(
    worker_id: str,
    scope: ScopeDep,
    liveness: LivenessDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    response: Response,
    as_of: AsOf = None,
    version: Version = None,
) -> dict[str, Any]:
    """One worker; or, with `as_of` or `version`, its membership as it was then (no load)."""
    key, worker = visible_worker(worker_id, scope, views, read_model, history, response)
    if as_of is not None or version is not None:
        return history.state_at("worker", key, as_of, version)
    worker["quarantine"] = views.quarantine_of(key)
    return _with_liveness(liveness, worker)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WorkerPublic)
def register_worker(
    body: WorkerRegister,
    app: AppDep,
    bus: BusDep,
    liveness: LivenessDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
    request: Request,
    scope: ScopeDep,
) -> dict[str, Any]:
    """Register a worker (for workers that join over HTTP); then send heartbeats. A key
    scoped to namespaces registers workers only for those."""
    scope.ensure_asked_among(body.namespaces, "namespaces")
    for namespace in body.namespaces:
        scope.ensure_may_act(request, namespace, "registering a worker")
    result = app.register_worker_profile(body.to_profile(), ctx)
    bus.publish_heartbeat(Heartbeat(worker_id=result.aggregate_id, name=body.name))
    worker = views.after_command(
        response,
        "worker",
        result.aggregate_id,
        result.position,
        read_model.worker,
        history.worker_from_log,
    )
    return _with_liveness(liveness, worker)


@router.post("/{worker_id}/heartbeat", status_code=status.HTTP_204_NO_CONTENT)
def heartbeat(
    worker_id: str,
    app: AppDep,
    bus: BusDep,
    request: Request,
    principal: PrincipalDep,
    body: WorkerHeartbeat | None = None,
) -> Response:
    """Renew a worker's lease at every dispatcher. Heartbeats are liveness, not events.

    A key of role `worker` may beat only for the workers it registered itself."""
    parsed = parse_id("worker", worker_id)
    worker = app.get_worker(parsed)  # the write side: the view may be behind
    if principal.role == "worker":
        ensure_registered_by(request, app.aggregate_events(parsed)[0], parsed, principal.actor)
    running = tuple((r.run_id, r.attempt) for r in body.running) if body else ()
    bus.publish_heartbeat(Heartbeat(worker_id=parsed, name=worker.name, running=running))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def ensure_registered_by(request: Request, registered: Any, worker_id: UUID, actor: str) -> None:
    """Refuse (403) a worker key acting for a worker another key registered."""
    by = (getattr(registered, "metadata", None) or {}).get("actor")
    if by != actor:
        count_forbidden(request)
        raise HTTPException(
            status_code=403,
            detail=f"forbidden: worker {worker_id} was registered by {by}, not by {actor};"
            " a worker key beats only for the workers it registered",
        )


@router.post("/{worker_id}/drain", response_model=WorkerPublic)
def drain_worker(
    worker_id: str,
    scope: ScopeDep,
    app: AppDep,
    liveness: LivenessDep,
    read_model: ReadModelDep,
    history: HistoryDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
) -> dict[str, Any]:
    """Ask a worker to take no new work, finish what it runs, then deregister."""
    if scope.narrowed:
        visible_worker(worker_id, scope, views, read_model, history, response)
    result = app.drain_worker(parse_id("worker", worker_id), f"drain requested by {ctx.actor}", ctx)
    worker = views.after_command(
        response,
        "worker",
        result.aggregate_id,
        result.position,
        read_model.worker,
        history.worker_from_log,
    )
    return _with_liveness(liveness, worker)
