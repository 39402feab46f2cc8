"""Temporal's overlap modes: buffer_one keeps one run waiting, buffer_all keeps all, in order."""

from __future__ import annotations

from application.dispatch.assignment import BUFFERED_SKIP_REASON, buffered_reason
from application.messages import Report
from domain.statuses import RunStatus
from tests.unit.rig import Rig
from tests.unit.test_assignment import Board


def test_buffer_one_keeps_one_run_waiting_behind_the_running_one_and_skips_the_rest() -> None:
    b = Board()
    worker = b.worker("w", capacity=8)
    policy = {"concurrency_policy": "buffer_one"}
    b.out(b.run("t", task=policy), worker)
    waiting, later, last = (b.run("t", task=policy) for _ in range(3))
    plan = b.plan()
    assert plan.wanted == []
    assert plan.notes == [(waiting.run_id, "concurrency", buffered_reason("buffer_one"))]
    assert plan.skip == [later.run_id, last.run_id]
    assert set(plan.skip_reasons.values()) == {BUFFERED_SKIP_REASON}


def test_buffer_one_with_nothing_out_sends_the_first_and_keeps_the_second() -> None:
    b = Board()
    b.worker("w", capacity=8)
    policy = {"concurrency_policy": "buffer_one"}
    first, second, third = (b.run("t", task=policy) for _ in range(3))
    plan = b.plan()
    assert [r for r, _ in plan.wanted] == [first.run_id]
    assert [n[0] for n in plan.notes] == [second.run_id]
    assert plan.skip == [third.run_id]


def test_buffer_all_sends_runs_one_at_a_time_in_request_order_whatever_their_priority() -> None:
    b = Board()
    b.worker("w", capacity=8)
    first = b.run("t", task={"concurrency_policy": "buffer_all", "priority": "low"})
    urgent = b.run("t", task={"concurrency_policy": "buffer_all", "priority": "critical"})
    plan = b.plan()
    assert [r for r, _ in plan.wanted] == [first.run_id]
    assert plan.notes == [(urgent.run_id, "concurrency", buffered_reason("buffer_all"))]
    assert plan.skip == []


def test_buffer_all_runs_every_waiting_run_one_after_another(rig: Rig) -> None:
    worker = rig.worker("w", capacity=4)
    runs = [rig.trigger("buffered", concurrency_policy="buffer_all") for _ in range(3)]
    for expected in runs:
        rig.dispatcher.step()
        statuses = [rig.app.get_run(r).status for r in runs]
        assert statuses.count(RunStatus.ASSIGNED) == 1
        assert rig.app.get_run(expected).status is RunStatus.ASSIGNED
        rig.app.record_reports(
            [Report("succeeded", expected, 1, worker, exit_code=0)], rig.clock.now()
        )
    rig.dispatcher.step()
    assert [rig.app.get_run(r).status for r in runs] == [RunStatus.SUCCEEDED] * 3


def test_a_buffer_one_skip_is_recorded_with_its_reason(rig: Rig) -> None:
    worker = rig.worker("w", capacity=4)
    first = rig.trigger("one", concurrency_policy="buffer_one")
    rig.dispatcher.step()
    rig.app.record_reports([Report("started", first, 1, worker, pid=1)], rig.clock.now())
    kept, dropped = rig.trigger("one"), rig.trigger("one")
    rig.dispatcher.step()
    assert rig.app.get_run(kept).status is RunStatus.PENDING
    assert rig.app.get_run(dropped).status is RunStatus.SKIPPED
    assert list(rig.app.events.get(dropped))[-1].reason == BUFFERED_SKIP_REASON
