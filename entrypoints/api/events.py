"""The global event log, by position: the audit trail every view is built from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from entrypoints.api.deps import AppDep
from entrypoints.api.schemas import EventsPublic
from entrypoints.api.strict import StrictRoute
from projections.event_records import event_record

router = APIRouter(prefix="/api/events", tags=["events"], route_class=StrictRoute)


@router.get("", response_model=EventsPublic)
def list_events(
    app: AppDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Events after this position.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> dict[str, Any]:
    """Events after a position, oldest first; page with next_after."""
    batch = app.read_log(after, limit)
    return {
        "items": [event_record(event, position) for position, event in batch],
        "next_after": batch[-1][0] if batch else after,
        "head": app.head_position(),
    }
