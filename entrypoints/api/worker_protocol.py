"""Workers in any language: long-poll for deliveries and report on each over HTTP.

A worker registered with POST /api/workers (a `worker`-role key) polls its inbox, the same
bus stream a bus worker reads, and reports each attempt; the dispatcher records the report
and fences it by attempt exactly as for a bus worker (docs/worker-protocol.md).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from application.bus import Bus
from application.commands.app import SchedulerApp
from application.messages import Control, Delivery, Report
from application.ports import Wakeup
from domain.scalars import Integer, Number
from domain.statuses import WorkerStatus
from entrypoints.api.deps import AppDep, BusDep, LogWakeupDep, parse_id, parse_run_id
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.stream_slots import StreamSlots
from entrypoints.api.strict import StrictRoute
from entrypoints.api.workers import ensure_registered_by

router = APIRouter(tags=["workers"], route_class=StrictRoute)
MAX_OPEN_POLLS = 64  # per process: each waiting poll holds a thread for up to a second at a time
POLL_STEP_SECONDS = 1.0  # one bus wait; between steps the poll sees a client that went away
RECORD_WAIT_SECONDS = 5.0  # how long a final report waits to be recorded before a 202
RECORD_RECHECK_SECONDS = 1.0  # only for a lost wake-up: a save anywhere rings the log's bell
OUTPUT_TAIL = 65_536  # characters of output kept, as workers keep ([worker] output_tail_bytes)
POLL_SLOTS = StreamSlots(MAX_OPEN_POLLS)


def poll_slots() -> StreamSlots:
    """The process's places for waiting polls (a test overrides it with a smaller cap)."""
    return POLL_SLOTS


class PollRequest(BaseModel):
    """How many messages a worker takes at most, and how long it waits for the first."""

    model_config = ConfigDict(extra="forbid")

    max_messages: Integer = Field(10, ge=1, le=100)
    wait_seconds: Number = Field(
        20.0, ge=0, le=30, description="Long-poll: answer at once when a message comes."
    )


class PollAnswer(BaseModel):
    """The worker's next deliveries (attempts to run) and controls (cancel, drain, recorded)."""

    deliveries: list[dict[str, Any]]
    controls: list[dict[str, Any]]


class AttemptReport(BaseModel):
    """A worker's account of one attempt."""

    model_config = ConfigDict(extra="forbid")

    worker_id: UUID = Field(description="The worker the attempt was delivered to.")
    status: Literal["started", "succeeded", "failed"]
    exit_code: Integer | None = Field(None, ge=-(2**31), le=2**31 - 1)
    output: str = Field("", max_length=1_048_576, description="Its tail is kept (64 KiB).")
    error: str | None = Field(None, max_length=8_192)
    duration_seconds: Number = Field(0.0, ge=0, le=10**7)
    timed_out: bool = False
    pid: Integer | None = Field(None, ge=0)
    hostname: str | None = Field(None, max_length=255)


class ReportAnswer(BaseModel):
    """Whether the report is in the log yet: resend a final report until it is."""

    recorded: bool
    status: str = Field(description="The run's status as the log has it now.")


def _own_active_worker(
    app: SchedulerApp, request: Request, principal: Any, worker_id: UUID
) -> None:
    worker = app.get_worker(worker_id)  # the write side: the view may be behind
    if principal.role == "worker":
        ensure_registered_by(
            request, app.aggregate_events(worker_id)[0], worker_id, principal.actor
        )
    if worker.status in (WorkerStatus.LOST, WorkerStatus.GONE):
        raise HTTPException(
            status_code=409,
            detail=f"worker {worker_id} is {worker.status}: its runs went elsewhere;"
            " register again (POST /api/workers) for a new worker id",
        )


@router.post("/api/workers/{worker_id}/poll", response_model=PollAnswer)
async def poll(
    worker_id: str,
    request: Request,
    app: AppDep,
    bus: BusDep,
    principal: PrincipalDep,
    slots: Annotated[StreamSlots, Depends(poll_slots)],
    body: PollRequest | None = None,
) -> dict[str, Any]:
    """The worker's next messages, waiting up to `wait_seconds` for the first (long poll).

    Deliveries hold the task's env and params in plain text, as the bus does: only the key
    that registered the worker (or an admin) may poll. Delivery is at least once: a delivery
    whose start is not reported is sent again; dedupe on (`run_id`, `attempt`).
    """
    wanted = body or PollRequest.model_validate({})
    parsed = parse_id("worker", worker_id)
    await anyio.to_thread.run_sync(_own_active_worker, app, request, principal, parsed)
    slot = slots.take()
    if slot is None:
        raise HTTPException(
            status_code=503,
            detail=f"this process has {slots.capacity} polls waiting already; retry",
            headers={"Retry-After": "1"},
        )
    try:
        messages = await _wait_for_messages(request, bus, parsed, wanted)
    finally:
        slot.release()
    return {
        "deliveries": [m.model_dump(mode="json") for m in messages if isinstance(m, Delivery)],
        "controls": [m.model_dump(mode="json") for m in messages if isinstance(m, Control)],
    }


async def _wait_for_messages(
    request: Request, bus: Bus, worker_id: UUID, wanted: PollRequest
) -> list[Delivery | Control]:
    deadline = time.monotonic() + wanted.wait_seconds
    while True:
        step = max(min(deadline - time.monotonic(), POLL_STEP_SECONDS), 0.0)
        messages = await anyio.to_thread.run_sync(
            bus.receive_inbox, worker_id, wanted.max_messages, step
        )
        if messages or time.monotonic() >= deadline or await request.is_disconnected():
            return messages


@router.post(
    "/api/runs/{run_id}/attempts/{attempt}/report",
    response_model=ReportAnswer,
    responses={
        202: {"description": "Sent to the dispatchers, not recorded yet: resend a final report."},
        409: {"description": "The attempt is not this worker's (superseded, or never its)."},
    },
)
def report_attempt(
    run_id: str,
    attempt: Annotated[int, Path(ge=1, le=10_000)],
    body: AttemptReport,
    request: Request,
    response: Response,
    app: AppDep,
    bus: BusDep,
    saved: LogWakeupDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Report an attempt's start or end; fenced by attempt like a bus worker's report.

    A final report answers 200 with `recorded: true` once the log has it (within a few
    seconds), else 202 `recorded: false`: send it again, it is recorded once.
    """
    parsed = parse_run_id(run_id)
    _own_active_worker(app, request, principal, body.worker_id)
    run = app.get_run(parsed)
    if run.attempt != attempt or run.worker_id != body.worker_id:
        raise HTTPException(
            status_code=409,
            detail=f"attempt {attempt} of run {parsed} is not worker {body.worker_id}'s:"
            f" the run is at attempt {run.attempt} on worker {run.worker_id}",
        )
    bus.publish_report(
        Report(
            kind=body.status,
            run_id=parsed,
            attempt=attempt,
            worker_id=body.worker_id,
            pid=body.pid,
            exit_code=body.exit_code,
            error=body.error,
            duration_seconds=body.duration_seconds,
            output=body.output[-OUTPUT_TAIL:],
            timed_out=body.timed_out,
            hostname=body.hostname,
        )
    )
    recorded, now = _recorded(app, saved, parsed, attempt, body.status)
    if not recorded:
        response.status_code = status.HTTP_202_ACCEPTED
    return {"recorded": recorded, "status": now}


def _recorded(
    app: SchedulerApp, saved: Wakeup, run_id: UUID, attempt: int, kind: str
) -> tuple[bool, str]:
    """Wait (bounded) until the log has the report: the attempt's start, or its end.

    The run is read again only when something was saved since it was last read (the log's
    doorbell: a dispatcher's save reaches this process as a NOTIFY), not on a timer.
    """
    deadline = time.monotonic() + RECORD_WAIT_SECONDS
    while True:
        generation = saved.generation()  # before the read: a save after it rings again
        run = app.get_run(run_id)
        done = (
            run.started_attempt >= attempt if kind == "started" else run.reported_attempt >= attempt
        )
        remaining = deadline - time.monotonic()
        if done or run.attempt != attempt or remaining <= 0:
            return done, str(run.status)
        saved.wait(generation, min(remaining, RECORD_RECHECK_SECONDS))
