"""A run records each report of an attempt once, in a sensible order, however they arrive."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.attempt import AttemptEnd, AttemptStart
from domain.context import CommandContext
from domain.errors import IllegalTransitionError
from domain.task_run import ReportOutcome, RunStatus, TaskRun
from tests.unit.conftest import START
from tests.unit.test_task_run import WORKER, new_run

SEEN = AttemptStart(WORKER, pid=4242, hostname="box-1", started_at=START - timedelta(seconds=3))
OK = AttemptEnd(True, 0, 2.5, "all good\n")
CANCELLED = AttemptEnd(False, None, 1.25, "half way\n", "cancelled")


def names(run: TaskRun) -> list[str]:
    return [type(e).__name__ for e in run.collect_events()]


def started(run: TaskRun, ctx: CommandContext, attempt: int = 1) -> ReportOutcome:
    return run.record_started(
        attempt, WORKER, SEEN.pid, ctx, hostname=SEEN.hostname, started_at=SEEN.started_at
    )


def test_a_final_report_heard_before_its_start_records_the_start_first(
    ctx: CommandContext,
) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    assert run.record_end(1, OK, ctx, SEEN) is ReportOutcome.APPLIED
    events = run.collect_events()
    assert [type(e).__name__ for e in events] == ["Requested", "Assigned", "Started", "Succeeded"]
    start = events[2]
    assert (start.attempt, start.worker_id, start.pid) == (1, WORKER, 4242)
    assert (start.hostname, start.started_at) == ("box-1", SEEN.started_at)
    assert run.status is RunStatus.SUCCEEDED


def test_a_start_heard_after_its_final_report_is_a_duplicate(ctx: CommandContext) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    run.record_end(1, OK, ctx, SEEN)
    recorded = len(run.pending_events)
    assert started(run, ctx) is ReportOutcome.DUPLICATE
    assert len(run.pending_events) == recorded, "nothing recorded, not even a rejection"
    assert run.status is RunStatus.SUCCEEDED


def test_a_start_then_its_final_report_records_the_start_once(ctx: CommandContext) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    assert started(run, ctx) is ReportOutcome.APPLIED
    assert run.record_end(1, OK, ctx, SEEN) is ReportOutcome.APPLIED
    assert names(run) == ["Requested", "Assigned", "Started", "Succeeded"]


def test_a_repeated_final_report_is_a_duplicate(ctx: CommandContext) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    run.record_end(1, OK, ctx, SEEN)
    recorded = len(run.pending_events)
    assert run.record_end(1, OK, ctx, SEEN) is ReportOutcome.DUPLICATE
    assert run.record_succeeded(1, 0, 2.5, "all good\n", ctx) is ReportOutcome.DUPLICATE
    assert len(run.pending_events) == recorded


def test_a_failure_heard_first_schedules_its_retry_after_recording_the_start(
    ctx: CommandContext,
) -> None:
    run = TaskRun.request(
        uuid.uuid4(),
        task_id=uuid.uuid4(),
        task_version=1,
        task={"name": "t", "executor": "shell", "command": "false", "retry_count": 1},
        trigger="manual",
        ctx=ctx,
    )
    run.assign(WORKER, ctx)
    failed = AttemptEnd(False, 1, 0.1, "nope", "exited with code 1")
    assert run.record_end(1, failed, ctx, SEEN, retry_delay_seconds=5) is ReportOutcome.APPLIED
    assert started(run, ctx) is ReportOutcome.DUPLICATE
    assert run.record_end(1, failed, ctx, SEEN, 5) is ReportOutcome.DUPLICATE
    assert names(run) == ["Requested", "Assigned", "Started", "RetryScheduled"]


def test_reports_of_a_superseded_attempt_are_rejected_whatever_their_order(
    ctx: CommandContext,
) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    run.requeue_after_worker_lost(3, ctx)
    run.assign(WORKER, ctx)
    assert run.record_end(1, OK, ctx, SEEN) is ReportOutcome.STALE
    assert started(run, ctx, attempt=1) is ReportOutcome.STALE
    events = run.collect_events()
    assert [type(e).__name__ for e in events][-2:] == ["StaleReportRejected"] * 2
    assert [(e.report, e.attempt, e.current_attempt) for e in events[-2:]] == [
        ("succeeded", 1, 2),
        ("started", 1, 2),
    ]
    assert run.status is RunStatus.ASSIGNED


def test_a_requeued_attempt_of_a_run_cancelled_since_is_stale(ctx: CommandContext) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    run.requeue_after_worker_lost(3, ctx)
    run.cancel("by op", ctx)
    assert run.record_end(1, OK, ctx, SEEN) is ReportOutcome.STALE
    assert started(run, ctx) is ReportOutcome.STALE
    assert run.status is RunStatus.CANCELLED


def test_a_cancelled_attempt_keeps_its_start_output_and_duration(ctx: CommandContext) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    run.cancel("cancelled by op", ctx)
    assert started(run, ctx) is ReportOutcome.APPLIED, "a start heard late is still recorded"
    assert run.record_end(1, CANCELLED, ctx, SEEN) is ReportOutcome.KEPT
    assert run.record_end(1, CANCELLED, ctx, SEEN) is ReportOutcome.DUPLICATE
    events = run.collect_events()
    assert [type(e).__name__ for e in events][2:] == ["Cancelled", "Started", "AttemptReported"]
    kept = events[-1]
    assert (kept.attempt, kept.exit_code, kept.error) == (1, None, "cancelled")
    assert (kept.duration_seconds, kept.output) == (1.25, "half way\n")
    assert run.status is RunStatus.CANCELLED, "the account changes no outcome"


def test_a_deadline_time_out_keeps_the_workers_late_account(ctx: CommandContext) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    started(run, ctx)
    run.time_out("deadline exceeded", ctx)
    late = AttemptEnd(False, None, 40.0, "slow...\n", "cancelled")
    assert run.record_end(1, late, ctx, SEEN) is ReportOutcome.KEPT
    assert names(run)[-2:] == ["TimedOut", "AttemptReported"]
    assert run.status is RunStatus.TIMED_OUT


def test_a_time_out_reported_by_the_worker_keeps_its_output_and_duration(
    ctx: CommandContext,
) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    end = AttemptEnd(False, None, 3.0, "tick\ntick\n", "timed out after 3.0s", timed_out=True)
    assert run.record_end(1, end, ctx, SEEN) is ReportOutcome.APPLIED
    timed_out = run.collect_events()[-1]
    assert isinstance(timed_out, TaskRun.TimedOut)
    assert (timed_out.duration_seconds, timed_out.output) == (3.0, "tick\ntick\n")
    assert run.record_end(1, end, ctx, SEEN) is ReportOutcome.DUPLICATE


def test_a_final_report_without_start_details_still_records_a_start(ctx: CommandContext) -> None:
    # A worker of an older version, or one reporting over HTTP, sends only its outcome.
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    assert run.record_succeeded(1, 0, 1.0, "", ctx) is ReportOutcome.APPLIED
    events = run.collect_events()
    assert [type(e).__name__ for e in events][2:] == ["Started", "Succeeded"]
    assert (events[2].worker_id, events[2].pid, events[2].started_at) == (WORKER, None, None)


REPORTS = ["started", "started", "final", "final"]


@settings(max_examples=200, deadline=None)
@given(st.permutations(REPORTS), st.booleans())
def test_any_order_of_an_attempts_reports_gives_the_same_history(
    order: list[str], succeeded: bool
) -> None:
    ctx = CommandContext("prop", now=START, correlation_id=uuid.uuid4())
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    end = OK if succeeded else AttemptEnd(False, 2, 0.5, "x", "exited with code 2")
    outcomes = [
        started(run, ctx) if kind == "started" else run.record_end(1, end, ctx, SEEN)
        for kind in order
    ]
    # A final report heard first also records the start, so both starts are duplicates.
    duplicates = 2 if order[0] == "started" else 3
    assert outcomes.count(ReportOutcome.DUPLICATE) == duplicates
    events = run.collect_events()
    final = "Succeeded" if succeeded else "Failed"
    assert [type(e).__name__ for e in events] == ["Requested", "Assigned", "Started", final]
    assert (events[2].pid, events[2].started_at) == (SEEN.pid, SEEN.started_at)
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed == run


steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["assign", "started", "succeeded", "failed", "requeue", "time_out", "cancel"]
        ),
        st.integers(min_value=1, max_value=3),
    ),
    max_size=30,
)


SCRIPTED: dict[str, Callable[[TaskRun, CommandContext, int], object]] = {
    "assign": lambda run, ctx, _attempt: run.assign(WORKER, ctx),
    "started": lambda run, ctx, attempt: started(run, ctx, attempt),
    "succeeded": lambda run, ctx, attempt: run.record_end(attempt, OK, ctx, SEEN),
    "failed": lambda run, ctx, attempt: run.record_end(
        attempt, CANCELLED, ctx, SEEN, retry_delay_seconds=0
    ),
    # Never gives up: no Failed by decision.
    "requeue": lambda run, ctx, _attempt: run.requeue_after_worker_lost(100, ctx),
    "time_out": lambda run, ctx, _attempt: run.time_out("deadline", ctx),
    "cancel": lambda run, ctx, _attempt: run.cancel("op", ctx),
}


@settings(max_examples=400, deadline=None)
@given(steps)
def test_every_attempt_records_one_start_before_at_most_one_account_of_its_end(
    script: list[tuple[str, int]],
) -> None:
    ctx = CommandContext("prop", now=START, correlation_id=uuid.uuid4())
    run = TaskRun.request(
        uuid.uuid4(),
        task_id=uuid.uuid4(),
        task_version=1,
        task={"name": "t", "executor": "shell", "command": "x", "retry_count": 2},
        trigger="manual",
        ctx=ctx,
    )
    for command, attempt in script:
        with contextlib.suppress(IllegalTransitionError):
            SCRIPTED[command](run, ctx, attempt)
    starts: dict[int, int] = {}
    accounts: dict[int, int] = {}
    current = 0
    ends = (TaskRun.Succeeded, TaskRun.Failed, TaskRun.RetryScheduled, TaskRun.AttemptReported)
    for event in run.collect_events():
        if isinstance(event, TaskRun.Assigned):
            current = event.attempt
        elif isinstance(event, TaskRun.Started):
            assert event.attempt == current, "only the current attempt starts"
            starts[event.attempt] = starts.get(event.attempt, 0) + 1
        elif isinstance(event, ends) or (
            isinstance(event, TaskRun.TimedOut) and event.output is not None
        ):
            assert event.attempt == current, "only the current attempt's end is recorded"
            assert starts.get(event.attempt) == 1, "an attempt's end comes after its start"
            accounts[event.attempt] = accounts.get(event.attempt, 0) + 1
    assert all(count == 1 for count in starts.values()), "one Started per attempt"
    assert all(count == 1 for count in accounts.values()), "one account of each end"
