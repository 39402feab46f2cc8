"""Bulk trigger: many runs of one task requested in one command (one save, one transaction)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from application.commands.runs import RunRequest
from entrypoints.api.deps import AppDep, ContextDep, NamespaceRatesDep, ReferencesDep, ViewsDep
from entrypoints.api.schemas import TriggerRequest
from entrypoints.api.strict import StrictRoute

MAX_BATCH_RUNS = 1_000  # one save: the transaction and the answer stay small
router = APIRouter(prefix="/api/tasks", tags=["tasks"], route_class=StrictRoute)


class BatchRun(TriggerRequest):
    """One run of a bulk trigger."""

    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="A repeat with the same key returns the same run, as Idempotency-Key does.",
    )


class BatchTriggerRequest(BaseModel):
    """The runs to request, in order."""

    model_config = ConfigDict(extra="forbid")

    runs: Annotated[list[BatchRun], Field(min_length=1, max_length=MAX_BATCH_RUNS)]


class BatchTriggerAccepted(BaseModel):
    """The runs were requested, in one save."""

    run_ids: list[str] = Field(description="One per item, in item order.")
    created: list[bool] = Field(description="False where an idempotency key found the run.")
    task_id: int | None
    task_uuid: str
    position: int | None = Field(description="Log position of the batch's last event.")


@router.post(
    "/{ref}/trigger/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchTriggerAccepted,
)
def trigger_batch(
    ref: str,
    body: BatchTriggerRequest,
    app: AppDep,
    references: ReferencesDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
    rates: NamespaceRatesDep,
) -> dict[str, Any]:
    """Request 1 to 1,000 runs now, saved together; follow each at /api/runs/{run_id}."""
    task_id = references.task_id(ref)
    rates.charge_task(app, task_id, len(body.runs))
    requests = [RunRequest(run.params, run.idempotency_key) for run in body.runs]
    results = app.trigger_many(task_id, ctx, requests)
    position = max((r.position for r in results if r.position is not None), default=None)
    views.wait(response, position)
    return {
        "run_ids": [str(r.aggregate_id) for r in results],
        "created": [r.created for r in results],
        "task_id": app.task_number(task_id),
        "task_uuid": str(task_id),
        "position": position,
    }
