"""What-if route: a task's fires now and after a change, over a past window too; saves nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from application.what_if import counts, differences, next_fires, simulate
from domain.errors import InvalidFieldError
from domain.task_spec import SpecValidationError, validate_spec
from domain.timing import timing_problem
from entrypoints.api.deps import AppDep, ClockDep, ReadDatabaseDep, ReferencesDep
from entrypoints.api.strict import StrictRoute
from entrypoints.api.what_if_facts import gather_facts
from entrypoints.api.what_if_schemas import PreviewPublic, PreviewRequest

router = APIRouter(prefix="/api/tasks", tags=["tasks"], route_class=StrictRoute)
MAX_DIFFERENCES = 1_000  # listed; differences_total counts them all
MAX_SPANS = 100  # downtime and overlap intervals listed


@router.post("/{ref}/preview", response_model=PreviewPublic)
def preview_task_change(
    ref: str,
    body: PreviewRequest,
    app: AppDep,
    references: ReferencesDep,
    database: ReadDatabaseDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """What a change would do, without saving it: the next `count` fires now (`current`) and
    after it (`proposed`); with `from` and `to`, each slot of that past window replayed under
    both definitions given what really happened (downtime, runs still running)."""
    now = clock.now()
    task_id = references.task_id(ref)
    task = app.get_task(task_id)
    changes = body.changes.model_dump(exclude_unset=True)
    if changes.get("depends_on"):
        changes["depends_on"] = references.upstreams(changes["depends_on"])
    proposed = _proposed(task.spec, changes, now)
    answer: dict[str, Any] = {
        "task_uuid": str(task_id),
        "status": task.status,
        "changed": sorted(k for k, v in proposed.items() if task.spec.get(k) != v),
        "current": next_fires(task.spec, now, body.count),
        "proposed": next_fires(proposed, now, body.count),
        "window": None,
    }
    if body.from_ is None and body.to is None:
        return answer
    start, end = _window(body.from_, body.to, now)
    facts = gather_facts(app, database, task_id, start, end, now)
    before = simulate(task.spec, start, end, facts)
    after = simulate(proposed, start, end, facts)
    changed = differences(before, after)
    answer["window"] = {
        "from": start,
        "to": end,
        "current": counts(before),
        "proposed": counts(after),
        "differences": changed[:MAX_DIFFERENCES],
        "differences_total": len(changed),
        "downtime": _spans(facts.downtime, start, end),
        "overlaps": _spans(facts.busy, start, end),
        "notes": facts.notes,
    }
    return answer


def _proposed(spec: dict[str, Any], changes: dict[str, Any], now: datetime) -> dict[str, Any]:
    # Validated as PATCH validates the merged definition; errors name the field in `changes`.
    try:
        definition = validate_spec({**spec, **changes})
    except SpecValidationError as error:
        raise SpecValidationError([(f"changes.{f}", m) for f, m in error.problems]) from None
    data = definition.as_event_data()
    if (problem := timing_problem(data, now)) is not None:
        raise SpecValidationError([(f"changes.{problem.field}", problem.message)])
    return data


def _window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    if start is None:
        raise InvalidFieldError("from", "give both `from` and `to`, or neither")
    if end is None:
        raise InvalidFieldError("to", "give both `from` and `to`, or neither")
    if end > now:
        raise InvalidFieldError("to", f"must not be in the future (now is {now.isoformat()})")
    return start, end


def _spans(intervals: Any, start: datetime, end: datetime) -> list[dict[str, datetime]]:
    inside = [(max(b, start), min(f, end)) for b, f in intervals if b < end and f > start]
    return [{"from": b, "to": f} for b, f in inside[:MAX_SPANS]]
