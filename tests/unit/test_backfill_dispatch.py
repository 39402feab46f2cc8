"""Backfills through the dispatcher: released up to the limit, idempotent, cancellable."""

from __future__ import annotations

import uuid
from datetime import timedelta

from application.messages import Delivery, Report
from domain.backfill import Backfill, BackfillStatus
from domain.statuses import RunStatus
from domain.task_run import TaskRun
from tests.unit.rig import Rig, make_spec

HOURLY = "0 * * * *"


def task(rig: Rig, **spec: object) -> uuid.UUID:
    return rig.app.create_task(
        make_spec(name="hourly", schedule=HOURLY, **spec), rig.ctx()
    ).aggregate_id


def window(rig: Rig, hours: int) -> tuple:
    start = rig.clock.now().replace(minute=0) - timedelta(hours=12)
    return start, start + timedelta(hours=hours - 1)


def backfill_runs(rig: Rig, backfill_id: uuid.UUID) -> list[TaskRun.Requested]:
    return [
        e
        for _, e in rig.app.read_log(0, 100_000)
        if isinstance(e, TaskRun.Requested)
        and e.trigger == "backfill"
        and e.metadata["correlation_id"] == str(backfill_id)
    ]


def finish_delivered(rig: Rig, worker: uuid.UUID, status: str = "succeeded") -> int:
    deliveries = [m for m in rig.inbox(worker) if isinstance(m, Delivery)]
    reports = [
        Report(status, d.run_id, d.attempt, worker, exit_code=0 if status == "succeeded" else 1)
        for d in deliveries
    ]
    rig.app.record_reports(reports, rig.clock.now())
    return len(reports)


def in_flight(rig: Rig, backfill_id: uuid.UUID) -> int:
    runs = [rig.app.get_run(e.originator_id) for e in backfill_runs(rig, backfill_id)]
    return sum(1 for r in runs if not r.is_finished)


def test_a_backfill_keeps_at_most_its_limit_in_flight_until_every_slot_ran(rig: Rig) -> None:
    worker = rig.worker("w", capacity=10)
    task_id = task(rig)
    result = rig.app.start_backfill(task_id, window(rig, 5), 2, "allow", rig.ctx())
    peak = 0
    for _ in range(10):
        rig.dispatcher.step()
        peak = max(peak, in_flight(rig, result.aggregate_id))
        finish_delivered(rig, worker)
        rig.dispatcher.step()
    backfill = rig.app.get_backfill(result.aggregate_id)
    assert peak == 2
    assert (backfill.status, backfill.requested, backfill.finished) == ("completed", 5, 5)
    runs = backfill_runs(rig, result.aggregate_id)
    assert [r.originator_id for r in runs] == [
        TaskRun.fire_id(task_id, r.nominal_time) for r in runs if r.nominal_time
    ]


def test_a_second_identical_backfill_and_a_cron_fired_slot_add_no_run(rig: Rig) -> None:
    worker = rig.worker("w", capacity=10)
    task_id = task(rig)
    slots = window(rig, 3)
    rig.app.fire_cron([(task_id, slots[0])], [], "dispatcher", rig.clock.now())  # cron had it
    first = rig.app.start_backfill(task_id, slots, 5, "allow", rig.ctx()).aggregate_id
    for _ in range(3):
        rig.dispatcher.step()
        finish_delivered(rig, worker)
    second = rig.app.start_backfill(task_id, slots, 5, "allow", rig.ctx()).aggregate_id
    rig.dispatcher.step()
    one, two = rig.app.get_backfill(first), rig.app.get_backfill(second)
    assert (one.requested, one.existing, one.status) == (2, 1, BackfillStatus.COMPLETED)
    assert (two.requested, two.existing, two.status) == (0, 3, BackfillStatus.COMPLETED)
    requested = [e for _, e in rig.app.read_log(0, 100_000) if isinstance(e, TaskRun.Requested)]
    assert len(requested) == 3  # one run per slot: the cron fire and two backfill runs


def test_failed_runs_are_counted(rig: Rig) -> None:
    worker = rig.worker("w", capacity=10)
    backfill_id = rig.app.start_backfill(
        task(rig), window(rig, 2), 2, "allow", rig.ctx()
    ).aggregate_id
    for _ in range(3):
        rig.dispatcher.step()
        finish_delivered(rig, worker, "failed")
    backfill = rig.app.get_backfill(backfill_id)
    assert (backfill.finished, backfill.failed, backfill.status) == (2, 2, "completed")


def test_cancel_stops_releasing_and_cancels_pending_runs(rig: Rig) -> None:
    task_id = task(rig)  # no worker: released runs stay pending
    backfill_id = rig.app.start_backfill(
        task_id, window(rig, 6), 2, "allow", rig.ctx()
    ).aggregate_id
    rig.dispatcher.step()
    rig.app.cancel_backfill(backfill_id, "wrong window", rig.ctx())
    rig.dispatcher.step()
    rig.dispatcher.step()
    backfill = rig.app.get_backfill(backfill_id)
    runs = [rig.app.get_run(e.originator_id) for e in backfill_runs(rig, backfill_id)]
    assert [r.status for r in runs] == [RunStatus.CANCELLED, RunStatus.CANCELLED]
    assert (backfill.status, backfill.requested, backfill.finished) == ("cancelled", 2, 2)
    assert backfill.in_flight == []


def test_overlap_allow_runs_side_by_side_despite_a_skip_policy(rig: Rig) -> None:
    worker = rig.worker("w", capacity=10)
    backfill_id = rig.app.start_backfill(
        task(rig, concurrency_policy="skip"), window(rig, 2), 2, "allow", rig.ctx()
    ).aggregate_id
    rig.dispatcher.step()
    rig.dispatcher.step()
    assert len([m for m in rig.inbox(worker) if isinstance(m, Delivery)]) == 2
    del backfill_id


def test_overlap_task_follows_the_task_concurrency_policy(rig: Rig) -> None:
    rig.worker("w", capacity=10)
    backfill_id = rig.app.start_backfill(
        task(rig, concurrency_policy="skip"), window(rig, 2), 2, "task", rig.ctx()
    ).aggregate_id
    rig.dispatcher.step()
    rig.dispatcher.step()
    runs = [rig.app.get_run(e.originator_id) for e in backfill_runs(rig, backfill_id)]
    assert sorted(r.status for r in runs) == [RunStatus.ASSIGNED, RunStatus.SKIPPED]


def test_every_backfill_decision_is_an_event_in_its_correlation(rig: Rig) -> None:
    rig.worker("w", capacity=10)
    backfill_id = rig.app.start_backfill(
        task(rig), window(rig, 1), 1, "allow", rig.ctx()
    ).aggregate_id
    rig.dispatcher.step()
    kinds = [type(e).__name__ for e in rig.app.aggregate_events(backfill_id)]
    assert kinds == ["Started", "SlotsRequested"]
    events = rig.app.aggregate_events(backfill_id) + backfill_runs(rig, backfill_id)
    assert {e.metadata["correlation_id"] for e in events} == {str(backfill_id)}
    assert isinstance(rig.app.get_backfill(backfill_id), Backfill)


def test_a_long_backfill_loads_from_a_snapshot_with_its_progress(rig: Rig) -> None:
    task_id = task(rig)
    start = rig.clock.now().replace(minute=0) - timedelta(days=10)
    backfill_id = rig.app.start_backfill(
        task_id, (start, start + timedelta(hours=119)), 1, "allow", rig.ctx()
    ).aggregate_id
    for _ in range(70):  # each round: one run ends, the next slot is requested (2 events)
        in_flight = rig.app.get_backfill(backfill_id).in_flight
        rig.app.advance_backfills(
            [(backfill_id, dict.fromkeys(in_flight, False))], "dispatcher", rig.clock.now()
        )
    assert rig.app.snapshots is not None and list(rig.app.snapshots.get(backfill_id))
    backfill = rig.app.get_backfill(backfill_id)
    assert (backfill.requested, backfill.finished, len(backfill.in_flight)) == (70, 69, 1)
    assert backfill.decided_through == start + timedelta(hours=69)
