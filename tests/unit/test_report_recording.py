"""Reports of one attempt saved by different dispatchers at once are each applied once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from application.commands.app import SchedulerApp
from application.messages import Report
from application.ports import FakeClock
from domain.context import CommandContext
from domain.task_run import ReportOutcome, RunStatus, TaskRun
from tests.unit.conftest import make_spec
from tests.unit.test_scheduler_app import register

SEEN_AT = datetime(2026, 11, 28, 11, 59, 58, tzinfo=UTC)


def assigned_run(app: SchedulerApp, ctx: CommandContext, clock: FakeClock) -> tuple[Any, Any]:
    worker = register(app, ctx)
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    run_id = app.trigger_task(task_id, ctx).aggregate_id
    app.assign_runs([(run_id, worker)], "dispatcher", clock.now())
    return run_id, worker


def reports(run_id: uuid.UUID, worker: uuid.UUID) -> tuple[Report, Report]:
    start = {"pid": 99, "hostname": "box", "started_at": SEEN_AT}
    return (
        Report("started", run_id, 1, worker, **start),
        Report("succeeded", run_id, 1, worker, exit_code=0, duration_seconds=1.0, **start),
    )


def history(app: SchedulerApp, run_id: uuid.UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(run_id)]


def test_a_final_report_saved_while_another_dispatcher_saves_the_start_lands_after_it(
    app: SchedulerApp, ctx: CommandContext, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, worker = assigned_run(app, ctx, clock)
    start, final = reports(run_id, worker)
    load = app.get_run
    raced: list[bool] = []

    def load_then_lose_the_race(run: uuid.UUID, version: int | None = None) -> TaskRun:
        loaded = load(run, version)
        if not raced:  # between our load and our save, another dispatcher saves the start
            raced.append(True)
            assert app.record_reports([start], clock.now())[0][1] is ReportOutcome.APPLIED
        return loaded

    monkeypatch.setattr(app, "get_run", load_then_lose_the_race)
    [(_, outcome)] = app.record_reports([final], clock.now())
    assert raced and outcome is ReportOutcome.APPLIED
    assert history(app, run_id) == ["Requested", "Assigned", "Started", "Succeeded"]
    assert app.get_run(run_id).status is RunStatus.SUCCEEDED


def test_the_reports_of_one_attempt_in_one_batch_in_reverse_order_give_the_whole_history(
    app: SchedulerApp, ctx: CommandContext, clock: FakeClock
) -> None:
    run_id, worker = assigned_run(app, ctx, clock)
    start, final = reports(run_id, worker)
    outcomes = app.record_reports([final, start, final], clock.now())
    assert [o for _, o in outcomes] == [
        ReportOutcome.APPLIED,
        ReportOutcome.DUPLICATE,
        ReportOutcome.DUPLICATE,
    ]
    assert history(app, run_id) == ["Requested", "Assigned", "Started", "Succeeded"]
    started = list(app.events.get(run_id))[2]
    assert (started.pid, started.hostname, started.started_at) == (99, "box", SEEN_AT)


def test_a_run_that_keeps_losing_the_race_gives_up_unacknowledged(
    app: SchedulerApp, ctx: CommandContext, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, worker = assigned_run(app, ctx, clock)
    _, final = reports(run_id, worker)

    def always_conflicts(*aggregates: Any, **kwargs: Any) -> Any:
        raise IntegrityError("another writer")

    monkeypatch.setattr(app, "save", always_conflicts)
    with pytest.raises(IntegrityError):
        app.record_reports([final], clock.now())
    monkeypatch.undo()
    assert history(app, run_id) == ["Requested", "Assigned"], "nothing half-saved"
