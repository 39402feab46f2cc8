"""The command handlers: one save per command, names unique, runs fenced and batched."""

from __future__ import annotations

import uuid

import pytest

from application.commands.app import SchedulerApp
from application.messages import Report
from application.ports import FakeClock
from domain.context import CommandContext
from domain.errors import NotFoundError, TaskNameTakenError, VersionMismatchError
from domain.task import Task
from domain.task_name import TaskName
from domain.task_run import ReportOutcome, RunStatus, TaskRun
from tests.unit.conftest import make_spec


def register(app: SchedulerApp, ctx: CommandContext, capacity: int = 2) -> uuid.UUID:
    return app.register_worker(
        name="w1",
        hostname="h",
        executors=["shell"],
        queues=["default"],
        labels={},
        max_concurrent_tasks=capacity,
        ctx=ctx,
    ).aggregate_id


def test_creating_a_task_saves_the_task_and_its_name_together(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    result = app.create_task(make_spec(name="etl"), ctx)
    assert result.position is not None
    assert app.task_id_for_name("etl") == result.aggregate_id
    assert [type(e) for e in app.events.get(TaskName.id_for("etl"))] == [TaskName.Created]


def test_a_second_task_with_the_same_name_is_refused_and_nothing_is_saved(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    app.create_task(make_spec(name="etl"), ctx)
    head = app.head_position()
    with pytest.raises(TaskNameTakenError):
        app.create_task(make_spec(name="etl"), ctx)
    assert app.head_position() == head


def test_renaming_frees_the_old_name_and_deleting_frees_the_new_one(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(name="old"), ctx).aggregate_id
    app.update_task(task_id, {"name": "new"}, ctx)
    assert app.task_id_for_name("old") is None
    assert app.task_id_for_name("new") == task_id
    app.delete_task(task_id, "retired", ctx)
    reused = app.create_task(make_spec(name="new"), ctx).aggregate_id
    assert app.task_id_for_name("new") == reused != task_id


def test_an_update_with_a_stale_expected_version_is_refused(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    app.update_task(task_id, {"priority": "high"}, ctx)
    with pytest.raises(VersionMismatchError):
        app.update_task(task_id, {"priority": "low"}, ctx, expected_version=1)
    assert app.get_task(task_id).spec["priority"] == "high"


def test_an_update_that_changes_nothing_records_nothing(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    result = app.update_task(task_id, {"command": "echo hi"}, ctx)
    assert result.position is None
    assert app.get_task(task_id).version == 1


def test_a_trigger_repeated_with_an_idempotency_key_returns_the_same_run(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    first = app.trigger_task(task_id, ctx, idempotency_key="abc")
    again = app.trigger_task(task_id, ctx, idempotency_key="abc")
    assert first.aggregate_id == again.aggregate_id
    assert (first.created, again.created) == (True, False)
    other = app.trigger_task(task_id, ctx, idempotency_key="xyz")
    assert other.aggregate_id != first.aggregate_id


def test_a_run_snapshots_the_task_definition_and_params(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(command="echo $X"), ctx).aggregate_id
    run_id = app.trigger_task(task_id, ctx, params={"X": "1"}).aggregate_id
    run = app.get_run(run_id)
    assert (run.task["command"], run.params, run.trigger) == ("echo $X", {"X": "1"}, "manual")
    assert run.correlation_id == ctx.correlation_id


def test_unknown_references_raise_not_found(app: SchedulerApp) -> None:
    with pytest.raises(NotFoundError):
        app.get_task(uuid.uuid4())
    with pytest.raises(NotFoundError):
        app.get_run(uuid.uuid4())


def test_assignments_and_reports_are_saved_in_one_batch_each(
    app: SchedulerApp, ctx: CommandContext, clock: FakeClock
) -> None:
    worker = register(app, ctx)
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    runs = [app.trigger_task(task_id, ctx).aggregate_id for _ in range(3)]
    head = app.head_position()
    assignments = app.assign_runs([(r, worker) for r in runs], "dispatcher", clock.now())
    assert [a.attempt for a in assignments] == [1, 1, 1]
    assert app.head_position() == head + 3
    reports = [Report("succeeded", r, 1, worker, exit_code=0, duration_seconds=0.5) for r in runs]
    outcomes = app.record_reports(reports, clock.now())
    assert {o for _, o in outcomes} == {ReportOutcome.APPLIED}
    assert {app.get_run(r).status for r in runs} == {RunStatus.SUCCEEDED}


def test_a_stale_report_is_recorded_as_rejected_and_not_applied(
    app: SchedulerApp, ctx: CommandContext, clock: FakeClock
) -> None:
    worker = register(app, ctx)
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    run_id = app.trigger_task(task_id, ctx).aggregate_id
    app.assign_runs([(run_id, worker)], "dispatcher", clock.now())
    [(_, outcome)] = app.record_reports([Report("succeeded", run_id, 5, worker)], clock.now())
    assert outcome is ReportOutcome.STALE
    run = app.get_run(run_id)
    assert run.status is RunStatus.ASSIGNED
    assert isinstance(list(app.events.get(run_id))[-1], TaskRun.StaleReportRejected)


def test_assigning_a_run_that_is_no_longer_pending_is_skipped(
    app: SchedulerApp, ctx: CommandContext, clock: FakeClock
) -> None:
    worker = register(app, ctx)
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    run_id = app.trigger_task(task_id, ctx).aggregate_id
    app.assign_runs([(run_id, worker)], "d1", clock.now())
    assert app.assign_runs([(run_id, worker)], "d2", clock.now()) == []


def test_every_aggregate_rebuilt_from_its_events_equals_the_live_one(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    app.update_task(task_id, {"priority": "critical", "schedule": "@daily"}, ctx)
    app.pause_task(task_id, "hold", ctx)
    live = app.get_task(task_id)
    replayed = None
    for event in app.events.get(task_id):
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Task)
    assert replayed == live
