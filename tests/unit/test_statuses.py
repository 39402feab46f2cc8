"""One status vocabulary: events declare the status they leave; every map derives from them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from eventsourcing.utils import get_topic, resolve_topic

from application.dispatch.dependencies import FINAL_STATUS
from domain.context import CommandContext
from domain.statuses import TERMINAL, RunStatus, TaskStatus, WorkerStatus
from domain.task import TASK_STATUS_CHANGES, Task
from domain.task_run import ATTEMPT_ENDINGS, RUN_ENDINGS, TaskRun
from domain.worker import WORKER_STATUS_CHANGES, Worker, WorkerProfile
from entrypoints.api.runs import RUN_STATUS_PATTERN
from entrypoints.api.tasks import TASK_STATUS_PATTERN
from entrypoints.api.workers import WORKER_STATUS_PATTERN
from projections.runs import ATTEMPT_STATUS
from projections.workers import WORKER_STATUS
from tests.unit.conftest import make_spec

CTX = CommandContext("tester", datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4())


def test_the_events_that_end_a_run_leave_exactly_the_terminal_statuses() -> None:
    assert {event.status for event in RUN_ENDINGS} == TERMINAL
    assert {
        TaskRun.Succeeded: "succeeded",
        TaskRun.Failed: "failed",
        TaskRun.TimedOut: "timed_out",
        TaskRun.Cancelled: "cancelled",
        TaskRun.Skipped: "skipped",
        TaskRun.UpstreamFailed: "upstream_failed",
    } == FINAL_STATUS


def test_the_attempt_statuses_of_the_runs_view_are_those_its_events_declare() -> None:
    assert set(ATTEMPT_STATUS) == set(ATTEMPT_ENDINGS)
    assert {
        TaskRun.Succeeded: "succeeded",
        TaskRun.Failed: "failed",
        TaskRun.RetryScheduled: "failed",
        TaskRun.TimedOut: "timed_out",
        TaskRun.Cancelled: "cancelled",
        TaskRun.Requeued: "worker_lost",
    } == ATTEMPT_STATUS


def test_a_run_takes_the_status_its_event_declares() -> None:
    task = Task.create(uuid.uuid4(), make_spec(), CTX)
    run = task.request_run(uuid.uuid4(), "manual", CTX)
    assert run.status is TaskRun.Requested.status is RunStatus.PENDING
    run.skip("not today", CTX)
    assert run.status is TaskRun.Skipped.status


def test_a_task_and_a_worker_take_the_status_their_events_declare() -> None:
    task = Task.create(uuid.uuid4(), make_spec(), CTX)
    assert task.status is TaskStatus.ACTIVE
    task.pause("maintenance", CTX)
    assert task.status is Task.Paused.status is TaskStatus.PAUSED
    assert {event.status for event in TASK_STATUS_CHANGES} == set(TaskStatus)

    worker = Worker.register(uuid.uuid4(), WorkerProfile("w", "h", ["shell"]), CTX)
    assert worker.status is WorkerStatus.ACTIVE
    worker.drain("going", CTX)
    assert worker.status is Worker.DrainStarted.status is WorkerStatus.DRAINING
    assert {
        Worker.DrainStarted: "draining",
        Worker.Lost: "lost",
        Worker.Deregistered: "gone",
    } == WORKER_STATUS
    assert set(WORKER_STATUS) == set(WORKER_STATUS_CHANGES)


def test_renamed_events_keep_their_stored_topics() -> None:
    assert get_topic(TaskRun.WaitNoted) == "scheduler:TaskRun.Waiting"
    assert get_topic(Worker.DrainStarted) == "scheduler:Worker.Draining"
    assert resolve_topic("scheduler:TaskRun.Waiting") is TaskRun.WaitNoted
    assert resolve_topic("scheduler:Worker.Draining") is Worker.DrainStarted
    # The old names stay until the dispatcher reads the new ones: the very same classes.
    assert not hasattr(TaskRun, "Waiting") and not hasattr(Worker, "Draining")


def test_the_api_status_filters_accept_every_status_and_nothing_else() -> None:
    for pattern, statuses in (
        (RUN_STATUS_PATTERN, set(RunStatus)),
        (WORKER_STATUS_PATTERN, set(WorkerStatus)),
        (TASK_STATUS_PATTERN, {*TaskStatus, "quarantined"}),
    ):
        assert all(re.fullmatch(pattern, status) for status in statuses), pattern
        assert not re.fullmatch(pattern, "unknown")
        assert not re.fullmatch(pattern, "pending|active")
