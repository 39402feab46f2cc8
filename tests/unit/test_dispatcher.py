"""The dispatcher's decisions against a fake clock, the in-memory store and the in-memory bus."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest

from application.dispatch.dispatcher import Dispatcher
from application.messages import Control, Delivery, Report
from application.ports import Wakeup
from domain.task_run import RunStatus, TaskRun
from tests.unit.conftest import make_spec
from tests.unit.rig import Rig


def test_pending_runs_go_out_highest_priority_first_within_capacity(rig: Rig) -> None:
    worker = rig.worker("w", capacity=2)
    normal = [rig.trigger("n") for _ in range(3)]
    critical = rig.trigger("c", priority="critical")
    rig.dispatcher.step()
    delivered = [m.run_id for m in rig.inbox(worker) if isinstance(m, Delivery)]
    assert delivered == [critical, normal[0]]
    assert rig.app.get_run(normal[1]).status is RunStatus.PENDING


def test_an_unstarted_assignment_is_delivered_again(rig: Rig) -> None:
    worker = rig.worker("w")
    run_id = rig.trigger()
    rig.dispatcher.step()
    assert len(rig.inbox(worker)) == 1
    rig.advance(4)
    rig.beat(worker)
    rig.dispatcher.step()
    again = rig.inbox(worker)
    assert [(m.run_id, m.attempt) for m in again] == [(run_id, 1)]


def test_a_silent_worker_is_lost_and_its_run_goes_to_another(rig: Rig) -> None:
    first = rig.worker("a")
    run_id = rig.trigger()
    rig.dispatcher.step()
    assert rig.app.get_run(run_id).worker_id == first
    rig.advance(11)
    second = rig.worker("b")
    rig.dispatcher.step()
    rig.dispatcher.step()
    run = rig.app.get_run(run_id)
    assert (run.worker_id, run.attempt, run.recoveries) == (second, 2, 1)
    assert rig.app.get_worker(first).status == "lost"


def test_a_run_that_loses_too_many_workers_fails(rig: Rig) -> None:
    rig.worker("a")
    run_id = rig.trigger()
    rig.dispatcher.step()
    for name in ("b", "c"):
        rig.advance(11)
        rig.worker(name)
        rig.dispatcher.step()
        rig.dispatcher.step()
    run = rig.app.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert "worker_lost" in list(rig.app.events.get(run_id))[-1].error


def test_a_run_past_its_deadline_times_out_and_its_worker_is_told_to_cancel(rig: Rig) -> None:
    worker = rig.worker("w")
    run_id = rig.trigger(timeout_seconds=10)
    rig.dispatcher.step()
    rig.app.record_reports([Report("started", run_id, 1, worker, pid=5)], rig.clock.now())
    rig.inbox(worker)
    rig.advance(9)
    rig.beat(worker, ((run_id, 1),))
    rig.dispatcher.step()
    assert rig.app.get_run(run_id).status is RunStatus.RUNNING
    rig.advance(7)
    rig.beat(worker, ((run_id, 1),))
    rig.dispatcher.step()
    assert rig.app.get_run(run_id).status is RunStatus.TIMED_OUT
    assert Control("cancel", worker, run_id, 1) in rig.inbox(worker)


def test_a_worker_still_running_a_superseded_attempt_is_told_to_cancel_it(rig: Rig) -> None:
    stale = rig.worker("a")
    run_id = rig.trigger()
    rig.dispatcher.step()
    rig.advance(11)
    rig.worker("b")
    rig.dispatcher.step()
    rig.dispatcher.step()
    rig.beat(stale, ((run_id, 1),))  # it wakes up, still running attempt 1
    rig.dispatcher.step()
    messages = rig.inbox(stale)
    assert Control("cancel", stale, run_id, 1) in messages
    assert Control("rejoin", stale) in messages


def test_final_reports_are_recorded_acknowledged_and_confirmed(rig: Rig) -> None:
    worker = rig.worker("w")
    run_id = rig.trigger()
    rig.dispatcher.step()
    rig.inbox(worker)
    rig.bus.publish_report(Report("started", run_id, 1, worker, pid=3))
    rig.bus.publish_report(Report("succeeded", run_id, 1, worker, exit_code=0))
    rig.dispatcher.step()
    assert rig.app.get_run(run_id).status is RunStatus.SUCCEEDED
    assert Control("recorded", worker, run_id, 1) in rig.inbox(worker)
    assert rig.bus._unacked == {}
    assert isinstance(list(rig.app.events.get(run_id))[-1], TaskRun.Succeeded)


def cron_runs(rig: Rig) -> list:
    return [
        e
        for _, e in rig.app.read_log(0, 10_000)
        if isinstance(e, TaskRun.Requested) and e.trigger == "cron"
    ]


def test_a_due_cron_slot_fires_once_with_its_nominal_time(rig: Rig) -> None:
    rig.trigger("every-minute", schedule="* * * * *")  # also a manual run; ignored here
    rig.advance(61)
    rig.dispatcher.step()
    rig.dispatcher.step()
    [fired] = cron_runs(rig)
    assert fired.nominal_time.second == 0 and fired.nominal_time <= rig.clock.now()
    assert fired.originator_id == TaskRun.fire_id(fired.task_id, fired.nominal_time)


def test_interval_and_run_at_tasks_fire_their_slots_through_the_dispatcher(rig: Rig) -> None:
    rig.app.create_task(make_spec(name="every-10s", interval_seconds=10), rig.ctx())
    once = rig.clock.now() + timedelta(seconds=25)
    rig.app.create_task(make_spec(name="once", run_at=once.isoformat()), rig.ctx())
    for _ in range(4):
        rig.advance(10)
        rig.dispatcher.step()
    fired = cron_runs(rig)
    assert sorted(e.nominal_time.second for e in fired if e.task["name"] == "every-10s") == [
        10,
        20,
        30,
        40,
    ]
    assert [e.nominal_time for e in fired if e.task["name"] == "once"] == [once]


def test_the_earliest_due_slot_is_known_without_scanning_and_follows_changes(rig: Rig) -> None:
    assert rig.dispatcher.cron.next_due_at() is None
    task_id = rig.app.create_task(make_spec(name="tick", interval_seconds=30), rig.ctx())
    rig.dispatcher.follow_log()
    first = rig.dispatcher.cron.next_due_at()
    assert first is not None and first.second in (0, 30) and first > rig.clock.now()
    rig.app.pause_task(task_id.aggregate_id, "quiet", rig.ctx())
    rig.dispatcher.follow_log()
    assert rig.dispatcher.cron.next_due_at() is None


def test_two_dispatchers_never_fire_a_slot_twice(rig: Rig) -> None:
    other = Dispatcher(
        rig.app,
        rig.bus,
        rig.liveness,
        rig.clock,
        Wakeup(),
        policy=rig.dispatcher.policy,
        monotonic=lambda: rig.ticks,
    )
    rig.trigger("tick", schedule="*/10 * * * * *")
    for _ in range(6):
        rig.advance(10)
        rig.dispatcher.follow_log()
        other.follow_log()
        other.fire_due_slots()
        rig.dispatcher.fire_due_slots()
    nominals = [e.nominal_time for e in cron_runs(rig)]
    assert len(nominals) == len(set(nominals)) == 6


def test_a_paused_task_fires_nothing_and_resuming_does_not_backfill(rig: Rig) -> None:
    rig.trigger("paused", schedule="* * * * *")
    task_id = rig.app.task_id_for_name("paused")
    rig.app.pause_task(task_id, "maintenance", rig.ctx())
    rig.advance(300)
    rig.dispatcher.step()
    assert cron_runs(rig) == []
    rig.app.resume_task(task_id, rig.ctx())
    rig.advance(61)
    rig.dispatcher.step()
    rig.dispatcher.step()
    assert len(cron_runs(rig)) == 1


def test_after_downtime_missed_slots_are_recorded_with_their_reason(rig: Rig) -> None:
    rig.trigger("down", schedule="* * * * *", misfire_policy="skip")
    rig.advance(600)  # the dispatcher was away for ten minutes
    rig.dispatcher.step()
    rig.dispatcher.step()
    task_id = rig.app.task_id_for_name("down")
    skipped = [e for e in rig.app.events.get(task_id) if type(e).__name__ == "MisfiresSkipped"]
    assert len(skipped) == 1 and skipped[0].count == 8  # 12:01-12:08; 12:09 is within 60 s
    assert skipped[0].reason == "misfire: skip policy"
    assert len(cron_runs(rig)) == 2  # 12:09 and 12:10 were on time


def overlapping(rig: Rig, policy: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    worker = rig.worker("w", capacity=4)
    first = rig.trigger("overlap", concurrency_policy=policy)
    rig.dispatcher.step()
    rig.app.record_reports([Report("started", first, 1, worker, pid=1)], rig.clock.now())
    second = rig.trigger("overlap")
    rig.dispatcher.step()
    rig.dispatcher.step()
    return worker, first, second


def test_overlap_skip_records_a_skipped_run_with_its_reason(rig: Rig) -> None:
    _, first, second = overlapping(rig, "skip")
    assert rig.app.get_run(second).status is RunStatus.SKIPPED
    assert "still running" in list(rig.app.events.get(second))[-1].reason
    assert rig.app.get_run(first).status is RunStatus.RUNNING


def test_overlap_queue_starts_the_next_run_when_the_previous_ends(rig: Rig) -> None:
    worker, first, second = overlapping(rig, "queue")
    assert rig.app.get_run(second).status is RunStatus.PENDING
    rig.app.record_reports([Report("succeeded", first, 1, worker, exit_code=0)], rig.clock.now())
    rig.dispatcher.step()
    assert rig.app.get_run(second).status is RunStatus.ASSIGNED


def test_overlap_replace_cancels_the_running_one(rig: Rig) -> None:
    worker, first, second = overlapping(rig, "replace")
    assert rig.app.get_run(first).status is RunStatus.CANCELLED
    assert rig.app.get_run(second).status is RunStatus.ASSIGNED
    assert Control("cancel", worker, first, 1) in rig.inbox(worker)


def spy_on_inbox_batches(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> list[list]:
    """Each batch the dispatcher hands the bus for workers' inboxes, as it is sent."""
    batches: list[list] = []
    send = rig.bus.publish_inbox_messages

    def record(messages: Sequence[Delivery | Control]) -> None:
        batches.append(list(messages))
        send(messages)

    monkeypatch.setattr(rig.bus, "publish_inbox_messages", record)
    return batches


def test_a_rounds_deliveries_go_to_the_bus_in_one_batch(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = [rig.worker("a"), rig.worker("b")]
    runs = {rig.trigger(f"t{i}") for i in range(4)}
    batches = spy_on_inbox_batches(rig, monkeypatch)
    rig.dispatcher.step()
    [batch] = batches
    assert {m.run_id for m in batch} == runs and all(isinstance(m, Delivery) for m in batch)
    assert sum(len(rig.inbox(w)) for w in workers) == 4


def test_a_recorded_batchs_confirmations_go_to_the_bus_in_one_batch(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = rig.worker("w")
    runs = [rig.trigger("a"), rig.trigger("b")]
    rig.dispatcher.step()
    rig.inbox(worker)
    for run_id in runs:
        rig.bus.publish_report(Report("succeeded", run_id, 1, worker, exit_code=0))
    batches = spy_on_inbox_batches(rig, monkeypatch)
    assert rig.dispatcher.record_reports() == 2
    assert batches == [[Control("recorded", worker, run_id, 1) for run_id in runs]]
