"""The event log, newest first: filter by type, aggregate and actor; follows live."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from application.commands.app import SchedulerApp
from domain.errors import NotFoundError
from domain.ids import parse_uuid
from entrypoints.api.deps import AppDep, HistoryDep
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.strict import StrictRoute
from entrypoints.web.templating import render
from projections.event_records import event_record
from projections.history import History

router = APIRouter(route_class=StrictRoute, include_in_schema=False)
PAGE = 50
CHUNK = 500  # events read per query while filtering
SCAN_LIMIT = 5_000  # events looked at per page when a filter is set: pages stay bounded


@router.get("/events", response_class=HTMLResponse)
def event_log(
    request: Request,
    app: AppDep,
    history: HistoryDep,
    principal: PrincipalDep,
    type: Annotated[str | None, Query(max_length=100)] = None,
    aggregate: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> HTMLResponse:
    """A page of events (secrets masked), older pages with `before`."""
    head = app.head_position()
    if aggregate:
        records = _of_aggregate(history, aggregate)
    else:
        records = _scan(app, min(before or head + 1, head + 1), type or None, actor or None)
    records = [r for r in records if _matches(r, type, actor)][:PAGE]
    older = records[-1]["position"] if len(records) == PAGE else None
    return render(
        request,
        "events.html",
        principal,
        records=records,
        older=older,
        filters={"type": type or "", "aggregate": aggregate or "", "actor": actor or ""},
    )


def _matches(record: dict[str, Any], type_: str | None, actor: str | None) -> bool:
    return (not type_ or type_.lower() in record["type"].lower()) and (
        not actor or actor.lower() in (record["actor"] or "").lower()
    )


def _of_aggregate(history: History, aggregate: str) -> list[dict[str, Any]]:
    aggregate_id = parse_uuid(aggregate)
    if aggregate_id is None:
        return []
    try:
        return list(reversed(history.records(aggregate_id, "aggregate")))
    except NotFoundError:  # no events: an empty page, as for any filter matching nothing
        return []


def _scan(
    app: SchedulerApp, before: int, type_: str | None, actor: str | None
) -> list[dict[str, Any]]:
    """Newest first, from `before` down, until a page matches or the scan limit is reached."""
    found: list[dict[str, Any]] = []
    scanned, upper = 0, before
    while upper > 1 and len(found) < PAGE and scanned < SCAN_LIMIT:
        after = max(upper - CHUNK - 1, 0)
        batch = app.read_log(after, upper - 1 - after)
        scanned += len(batch)
        records = [event_record(e, p) for p, e in reversed(batch)]
        found += [r for r in records if _matches(r, type_, actor)]
        upper = after + 1
        if not type_ and not actor:
            break
    return found
