"""Backfill routes: preview or start one, follow its progress, cancel it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from domain.backfill import Backfill
from domain.task_run import TaskRun
from entrypoints.api.backfill_schemas import BackfillPreview, BackfillPublic, BackfillRequest
from entrypoints.api.deps import AppDep, ContextDep, NamespaceRatesDep, ReferencesDep, parse_id
from entrypoints.api.permissions import PrincipalDep, Right, forbid, has_right
from entrypoints.api.schemas import ReasonRequest
from entrypoints.api.strict import StrictRoute

router = APIRouter(prefix="/api", tags=["backfills"], route_class=StrictRoute)


@router.post(
    "/tasks/{ref}/backfill",
    response_model=BackfillPreview | BackfillPublic,
    status_code=status.HTTP_202_ACCEPTED,
)
def backfill_task(
    ref: str,
    body: BackfillRequest,
    app: AppDep,
    references: ReferencesDep,
    ctx: ContextDep,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    rates: NamespaceRatesDep,
) -> dict[str, Any]:
    """Preview (`dry_run: true`, 200) or start (202) a backfill of the task's slots in the
    window. Its runs have the ids cron uses, so a slot never runs twice; the dispatcher
    requests them at most `concurrency` at a time. Starting needs the `backfill` right."""
    task_id = references.task_id(ref)
    window = (body.from_, body.to)
    if body.dry_run:
        response.status_code = status.HTTP_200_OK
        slots = app.preview_backfill(task_id, *window, ctx.now)
        return {
            "dry_run": True,
            "task_uuid": str(task_id),
            "slots_total": len(slots),
            "existing": sum(1 for _, exists in slots if exists),
            "slots": [
                {
                    "nominal_time": slot,
                    "exists": exists,
                    "run_id": str(TaskRun.fire_id(task_id, slot)),
                }
                for slot, exists in slots
            ],
        }
    if not has_right(principal, Right.BACKFILL):
        raise forbid(request, principal, Right.BACKFILL, "executing a backfill")
    rates.charge_task(app, task_id)  # one start: its runs go out `concurrency` at a time
    result = app.start_backfill(task_id, window, body.concurrency, body.overlap_policy, ctx)
    response.headers["Location"] = f"/api/backfills/{result.aggregate_id}"
    return backfill_resource(app.get_backfill(result.aggregate_id), result.position)


@router.get("/backfills/{backfill_id}", response_model=BackfillPublic)
def get_backfill(backfill_id: str, app: AppDep, references: ReferencesDep) -> dict[str, Any]:
    """A backfill's progress, read from its own events (always current). Its runs:
    `GET /api/runs?backfill=ID`. A backfill of another namespace's task is a 404 to a key
    scoped to namespaces."""
    return backfill_resource(_visible(backfill_id, app, references), None)


@router.post("/backfills/{backfill_id}/cancel", response_model=BackfillPublic)
def cancel_backfill(
    backfill_id: str,
    app: AppDep,
    ctx: ContextDep,
    references: ReferencesDep,
    body: ReasonRequest | None = None,
) -> dict[str, Any]:
    """Cancel a running backfill: no more slots are requested, its pending runs are
    cancelled, runs already out on workers finish."""
    key = _visible(backfill_id, app, references).id
    reason = (body.reason if body else "") or f"cancelled by {ctx.actor}"
    result = app.cancel_backfill(key, reason, ctx)
    return backfill_resource(app.get_backfill(key), result.position)


def backfill_resource(backfill: Backfill, position: int | None) -> dict[str, Any]:
    """A backfill aggregate as the API's resource."""
    return {
        "id": str(backfill.id),
        "task_uuid": str(backfill.task_id),
        "status": backfill.status,
        "window_from": backfill.window_from,
        "window_to": backfill.window_to,
        "concurrency": backfill.concurrency,
        "overlap_policy": backfill.overlap_policy,
        "slots_total": backfill.slots_total,
        "requested": backfill.requested,
        "existing": backfill.existing,
        "pending": backfill.slots_total - backfill.decided,
        "in_flight": len(backfill.in_flight),
        "finished": backfill.finished,
        "failed": backfill.failed,
        "reason": backfill.reason,
        "started_at": backfill.created_on,
        "actor": backfill.started_by,
        "position": position,
    }


def _parse(backfill_id: str) -> UUID:
    return parse_id("backfill", backfill_id)


def _visible(backfill_id: str, app: AppDep, references: ReferencesDep) -> Backfill:
    # A backfill belongs to its task's namespace: outside the caller's, it does not exist.
    backfill = app.get_backfill(_parse(backfill_id))
    references.ensure_sees_task_of(backfill.task_id, "backfill", backfill_id)
    return backfill
