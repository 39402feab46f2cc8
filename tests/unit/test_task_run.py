"""The TaskRun aggregate: its life cycle, fencing, and no illegal state ever."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.context import CommandContext
from domain.errors import IllegalTransitionError
from domain.task_run import ReportOutcome, RunStatus, TaskRun
from tests.unit.conftest import START

WORKER = uuid.UUID(int=7)
LEGAL_STEPS = {
    (RunStatus.PENDING, RunStatus.ASSIGNED),
    (RunStatus.ASSIGNED, RunStatus.RUNNING),
    (RunStatus.ASSIGNED, RunStatus.SUCCEEDED),
    (RunStatus.ASSIGNED, RunStatus.FAILED),
    (RunStatus.RUNNING, RunStatus.SUCCEEDED),
    (RunStatus.RUNNING, RunStatus.FAILED),
    (RunStatus.ASSIGNED, RunStatus.PENDING),  # requeued: its worker was lost
    (RunStatus.RUNNING, RunStatus.PENDING),
    (RunStatus.ASSIGNED, RunStatus.TIMED_OUT),
    (RunStatus.RUNNING, RunStatus.TIMED_OUT),
}


def new_run(ctx: CommandContext) -> TaskRun:
    return TaskRun.request(
        uuid.uuid4(),
        task_id=uuid.uuid4(),
        task_version=1,
        task={"name": "t", "command": "true", "executor": "shell", "priority": "normal"},
        trigger="manual",
        ctx=ctx,
    )


def test_a_run_goes_from_requested_to_succeeded(ctx: CommandContext) -> None:
    run = new_run(ctx)
    attempt = run.assign(WORKER, ctx)
    assert run.record_started(attempt, WORKER, 42, ctx) is ReportOutcome.APPLIED
    assert run.record_succeeded(attempt, 0, 1.5, "ok\n", ctx) is ReportOutcome.APPLIED
    assert run.status is RunStatus.SUCCEEDED
    names = [type(e).__name__ for e in run.collect_events()]
    assert names == ["Requested", "Assigned", "Started", "Succeeded"]


def test_assigning_gives_attempt_numbers_that_fence_reports(ctx: CommandContext) -> None:
    run = new_run(ctx)
    assert run.assign(WORKER, ctx) == 1
    assert run.record_succeeded(2, 0, 1.0, "", ctx) is ReportOutcome.STALE
    assert run.status is RunStatus.ASSIGNED
    rejected = run.collect_events()[-1]
    assert isinstance(rejected, TaskRun.StaleReportRejected)
    assert (rejected.attempt, rejected.current_attempt) == (2, 1)


def test_a_duplicate_report_of_the_same_attempt_is_applied_once(ctx: CommandContext) -> None:
    run = new_run(ctx)
    attempt = run.assign(WORKER, ctx)
    run.record_failed(attempt, 3, "exited with code 3", 0.1, "", ctx)
    before = len(run.pending_events)
    assert run.record_failed(attempt, 3, "exited with code 3", 0.1, "", ctx) is (
        ReportOutcome.DUPLICATE
    )
    assert len(run.pending_events) == before


def test_a_running_run_cannot_be_assigned_again(ctx: CommandContext) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    with pytest.raises(IllegalTransitionError):
        run.assign(WORKER, ctx)


def test_an_unknown_trigger_is_refused(ctx: CommandContext) -> None:
    with pytest.raises(ValueError, match="unknown trigger"):
        TaskRun.request(
            uuid.uuid4(), task_id=uuid.uuid4(), task_version=1, task={}, trigger="x", ctx=ctx
        )


def test_idempotency_keys_map_to_the_same_run_id_per_task() -> None:
    task = uuid.uuid4()
    assert TaskRun.idempotent_id(task, "k") == TaskRun.idempotent_id(task, "k")
    assert TaskRun.idempotent_id(task, "k") != TaskRun.idempotent_id(uuid.uuid4(), "k")


commands = st.lists(
    st.tuples(
        st.sampled_from(["assign", "started", "succeeded", "failed", "requeue", "time_out"]),
        st.integers(min_value=0, max_value=4),
    ),
    max_size=25,
)


STEPS: dict[str, Callable[[TaskRun, CommandContext, int], object]] = {
    "assign": lambda run, ctx, _attempt: run.assign(WORKER, ctx),
    "started": lambda run, ctx, attempt: run.record_started(attempt, WORKER, None, ctx),
    "succeeded": lambda run, ctx, attempt: run.record_succeeded(attempt, 0, 1.0, "", ctx),
    "requeue": lambda run, ctx, _attempt: run.requeue_after_worker_lost(2, ctx),
    "time_out": lambda run, ctx, _attempt: run.time_out("deadline", ctx),
    "failed": lambda run, ctx, attempt: run.record_failed(attempt, 1, "boom", 1.0, "", ctx),
}


def assert_only_current_attempts_apply(events: list[Any]) -> None:
    """Every start and end belongs to the attempt assigned last before it."""
    for event in events:
        if isinstance(event, TaskRun.Started | TaskRun.Succeeded | TaskRun.Failed):
            assigned_before = [
                e
                for e in events
                if isinstance(e, TaskRun.Assigned)
                and e.originator_version < event.originator_version
            ]
            assert event.attempt == assigned_before[-1].attempt, "only the current attempt applies"


@settings(max_examples=300, deadline=None)
@given(commands)
def test_no_sequence_of_commands_drives_a_run_into_an_illegal_state(
    steps: list[tuple[str, int]],
) -> None:
    ctx = CommandContext("prop", now=START + timedelta(seconds=1), correlation_id=uuid.uuid4())
    run = new_run(ctx)
    statuses = [run.status]
    assigned = 0
    for command, attempt in steps:
        finished_before = run.is_finished
        try:
            STEPS[command](run, ctx, attempt)
            assigned += command == "assign"
        except IllegalTransitionError:
            assert run.status is not RunStatus.PENDING or command != "assign"
            assert command in ("assign", "requeue", "time_out")
        if finished_before:
            assert run.status is statuses[-1], "a finished run never changes status"
        if run.status is not statuses[-1]:
            assert (statuses[-1], run.status) in LEGAL_STEPS
        statuses.append(run.status)
        assert run.attempt == assigned
        assert run.recoveries <= 2, "recoveries are bounded"
    events = run.collect_events()
    assert_only_current_attempts_apply(events)
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert replayed == run


def test_the_output_so_far_is_recorded_only_while_its_attempt_runs(ctx: CommandContext) -> None:
    run = new_run(ctx)
    attempt = run.assign(WORKER, ctx)
    assert run.record_output(attempt, 1, "early", ctx) is ReportOutcome.DUPLICATE  # not started
    run.record_started(attempt, WORKER, 42, ctx)
    assert run.record_output(attempt, 2, "line 1\n", ctx) is ReportOutcome.APPLIED
    assert run.record_output(attempt, 1, "older", ctx) is ReportOutcome.DUPLICATE  # behind 2
    assert run.record_output(attempt, 2, "line 1\n", ctx) is ReportOutcome.DUPLICATE  # again
    run.record_succeeded(attempt, 0, 1.0, "line 1\nline 2\n", ctx)
    assert run.record_output(attempt, 3, "late", ctx) is ReportOutcome.DUPLICATE  # ended
    progress = [e for e in run.collect_events() if isinstance(e, TaskRun.OutputReported)]
    assert [(e.attempt, e.sequence, e.output) for e in progress] == [(1, 2, "line 1\n")]


def test_the_output_of_a_superseded_attempt_is_rejected(ctx: CommandContext) -> None:
    run = new_run(ctx)
    run.assign(WORKER, ctx)
    assert run.record_output(2, 1, "from elsewhere", ctx) is ReportOutcome.STALE
    rejected = run.collect_events()[-1]
    assert isinstance(rejected, TaskRun.StaleReportRejected)
    assert (rejected.report, rejected.attempt, rejected.current_attempt) == ("output", 2, 1)


def test_a_new_attempt_counts_its_output_reports_afresh(ctx: CommandContext) -> None:
    run = new_run(ctx)
    first = run.assign(WORKER, ctx)
    run.record_started(first, WORKER, 42, ctx)
    run.record_output(first, 5, "first try", ctx)
    run.requeue_after_worker_lost(3, ctx)
    second = run.assign(WORKER, ctx)
    run.record_started(second, WORKER, 43, ctx)
    assert run.record_output(second, 1, "second try", ctx) is ReportOutcome.APPLIED
