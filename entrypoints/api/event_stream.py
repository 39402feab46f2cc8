"""The event log as server-sent events: new events as they are recorded, resumable."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from entrypoints.api.deps import AppDep
from entrypoints.api.namespace_scope import EVERY_NAMESPACE
from entrypoints.api.stream_slots import Slot, StreamSlots
from entrypoints.api.strict import StrictRoute
from projections.event_records import event_record
from projections.ports import EventLog

router = APIRouter(prefix="/api/events", tags=["events"], route_class=StrictRoute)
POLL_SECONDS = 0.25  # how soon a new event reaches the browser
BATCH = 200  # events read per query
KEEPALIVE_SECONDS = 15  # a comment line, so proxies keep an idle stream open
STREAM_SECONDS = 60  # then the stream ends and EventSource reconnects with Last-Event-ID
RETRY_MS = 1_000  # how long EventSource waits before reconnecting
MAX_POSITION = 2**62
MAX_OPEN_STREAMS = 200  # per process: past it a 503, so browsers cannot exhaust the threads
RETRY_AFTER_SECONDS = 5
SLOTS = StreamSlots(MAX_OPEN_STREAMS)


def stream_slots() -> StreamSlots:
    """The process's places for open streams (a test overrides it with a smaller cap)."""
    return SLOTS


@router.get(
    "/stream",
    dependencies=EVERY_NAMESPACE,
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "An event stream."},
        503: {"description": "Too many open streams in this process: retry after Retry-After."},
    },
)
async def stream_events(
    request: Request,
    app: AppDep,
    slots: Annotated[StreamSlots, Depends(stream_slots)],
    after: Annotated[
        int | None,
        Query(
            ge=0, le=MAX_POSITION, description="Stream events after this position (default: now)."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=100_000, description="End the stream after this many events."),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(max_length=20, description="Sent by EventSource on reconnect: resume after it."),
    ] = None,
) -> StreamingResponse:
    """New events as server-sent events: `id:` is the log position, `data:` the event as
    GET /api/events shows it (secrets masked). Resumes after `Last-Event-ID` when given,
    else after `after`, else from the log head; ends after a minute (EventSource reconnects).
    A process keeps at most 200 streams open: past that, 503 with `Retry-After`."""
    start = _resume_position(last_event_id)
    if start is None:
        start = after if after is not None else await anyio.to_thread.run_sync(app.head_position)
    slot = slots.take()
    if slot is None:
        raise HTTPException(
            status_code=503,
            detail=f"this process has {slots.capacity} event streams open already; retry",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return StreamingResponse(
        _events(request, app, start, limit, slot),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release),  # also when the stream never started
    )


def _resume_position(last_event_id: str | None) -> int | None:
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit():
        return min(int(last_event_id), MAX_POSITION)
    return None


async def _events(
    request: Request, log: EventLog, after: int, limit: int | None, slot: Slot
) -> AsyncIterator[bytes]:
    try:
        async for chunk in _frames(request, log, after, limit):
            yield chunk
    finally:
        slot.release()


async def _frames(
    request: Request, log: EventLog, after: int, limit: int | None
) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n: stream after {after}\n\n".encode()
    started = quiet_since = time.monotonic()
    left = limit if limit is not None else -1  # -1: no limit
    while time.monotonic() - started < STREAM_SECONDS and left != 0:
        if await request.is_disconnected():
            return
        size = BATCH if left < 0 else min(BATCH, left)
        batch = await anyio.to_thread.run_sync(log.read_log, after, size)
        for position, event in batch:
            record = orjson.dumps(event_record(event, position))
            yield b"id: %d\ndata: %s\n\n" % (position, record)
            after = position
        left = left - len(batch) if left > 0 else left
        if batch:
            quiet_since = time.monotonic()
            continue
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            quiet_since = time.monotonic()
        await anyio.sleep(POLL_SECONDS)
