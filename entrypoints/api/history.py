"""History and time travel: an aggregate's events, its past states, definition diffs, rollback."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request, Response

from adapters.event_positions import event_positions
from domain.errors import NotFoundError
from domain.scalars import Integer
from domain.secrets import masked_spec
from entrypoints.api.deps import (
    ContainerDep,
    ContextDep,
    ReadModelDep,
    answer_from_view,
    parse_id,
    resolve_task_id,
    task_from_log,
)
from entrypoints.api.event_records import event_record
from entrypoints.api.permissions import PrincipalDep, check_task_executors
from entrypoints.api.schemas import EventPublic, TaskDiff, TaskPublic
from entrypoints.api.strict import StrictRoute
from entrypoints.bootstrap import Container
from entrypoints.reconstruct import events_at

router = APIRouter(tags=["history"], route_class=StrictRoute)

AsOf = Annotated[
    str | None,
    Query(
        max_length=64,
        description="ISO 8601 time with offset: the state as it was then, rebuilt from events.",
    ),
]
Version = Annotated[
    int | None,
    Query(ge=1, le=2**31, description="The state at this aggregate version, rebuilt from events."),
]


def stored_events(container: Container, aggregate_id: UUID, kind: str) -> list[Any]:
    """Every event of one aggregate, oldest first; 404 when there is none."""
    events = container.app.aggregate_events(aggregate_id)
    if not events:
        raise NotFoundError(kind, aggregate_id)
    return events


def history_records(container: Container, events: list[Any]) -> list[dict[str, Any]]:
    """The events as API records, each with its log position."""
    positions = event_positions(container.database, events[0].originator_id) if events else {}
    return [event_record(e, positions.get(e.originator_version)) for e in events]


@router.get("/api/tasks/{ref}/history", response_model=list[EventPublic])
def task_history(ref: str, container: ContainerDep, read_model: ReadModelDep) -> list[dict]:
    """Every event of the task: type, time, version, log position, actor, correlation, payload."""
    task_id = resolve_task_id(read_model, container, ref)
    return history_records(container, stored_events(container, task_id, "task"))


@router.get("/api/workers/{worker_id}/history", response_model=list[EventPublic])
def worker_history(worker_id: str, container: ContainerDep) -> list[dict]:
    """Every event of the worker: registration, draining, lost, deregistered."""
    key = parse_id("worker", worker_id)
    return history_records(container, stored_events(container, key, "worker"))


@router.get("/api/tasks/{ref}/diff", response_model=TaskDiff)
def task_diff(
    ref: str,
    container: ContainerDep,
    read_model: ReadModelDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2**31)],
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=2**31)] = None,
) -> dict[str, Any]:
    """What changed in the task's definition and status between two versions (to = latest)."""
    task_id = resolve_task_id(read_model, container, ref)
    number = container.app.task_number(task_id)
    events = stored_events(container, task_id, "task")
    to_version = to_version or events[-1].originator_version
    state_at = container.time_travel.task_state
    before = state_at(events_at(events, "task", None, from_version), number)
    after = state_at(events_at(events, "task", None, to_version), number)
    assert before is not None and after is not None
    before, after = masked_spec(before), masked_spec(after)  # masked already; kept so
    # The states show secrets as ***: a changed secret is found in the stored definitions,
    # whose envelopes differ exactly when the value changed (application/secrets.py).
    sealed = _stored_definitions(container, task_id, from_version, to_version)
    compared = [k for k in after if k not in ("version", "updated_at", "next_fire_at")]
    changes = {
        key: {"from": before.get(key), "to": after.get(key)}
        for key in compared
        if before.get(key) != after.get(key) or sealed[0].get(key) != sealed[1].get(key)
    }
    return {"from_version": from_version, "to_version": to_version, "changes": changes}


def _stored_definitions(
    container: Container, task_id: UUID, *versions: int
) -> list[dict[str, Any]]:
    try:
        return [dict(container.app.get_task(task_id, version=v).spec) for v in versions]
    except Exception:  # a version that cannot be replayed: compare the shown states alone
        return [{} for _ in versions]


@router.post("/api/tasks/{ref}/rollback", response_model=TaskPublic)
def rollback_task(
    ref: str,
    container: ContainerDep,
    read_model: ReadModelDep,
    ctx: ContextDep,
    response: Response,
    request: Request,
    principal: PrincipalDep,
    version: Annotated[Integer, Body(embed=True, ge=1, le=2**31)],
) -> dict[str, Any]:
    """Restore the definition the task had at `version`, recorded as a new update by you."""
    task_id = resolve_task_id(read_model, container, ref)
    if 1 <= version <= container.app.get_task(task_id).version:
        check_task_executors(request, principal, container, task_id, version=version)
    result = container.app.rollback_task(task_id, version, ctx)
    return answer_from_view(
        container,
        response,
        "task",
        task_id,
        result.position,
        read_model.task_by_uuid,
        task_from_log,
    )
