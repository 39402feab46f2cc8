"""Maintenance decisions read off a board built from events: no app, no bus."""

from __future__ import annotations

from datetime import timedelta

from application.dispatch.liveness import Lease
from application.dispatch.maintenance import (
    fencing_controls,
    overdue_runs,
    unstarted_to_republish,
    workers_to_recover,
)
from application.messages import Control
from tests.unit.conftest import START
from tests.unit.rig import BoardLog


def test_an_unstarted_assignment_is_sent_again_once_it_is_due_unless_its_worker_is_gone() -> None:
    log = BoardLog(START)
    worker, lost = log.worker("w"), log.worker("lost")
    waiting, stranded = log.run(), log.run()
    waiting.assign(worker.id, log.ctx)
    stranded.assign(lost.id, log.ctx)
    lost.mark_lost("lease expired", log.ctx)
    log.apply(waiting, stranded, lost)
    sent = {waiting.id: 100.0}.get
    due = [r.run_id for r in unstarted_to_republish(log.board, lambda r: sent(r, 0.0), 105.0, 10)]
    assert due == []
    due = [r.run_id for r in unstarted_to_republish(log.board, lambda r: sent(r, 0.0), 110.0, 10)]
    assert due == [waiting.id]
    forced = unstarted_to_republish(log.board, lambda r: sent(r, 0.0), 101.0, 10, force=True)
    assert [r.run_id for r in forced] == [waiting.id]


def test_expired_workers_and_gone_ones_still_holding_runs_are_recovered() -> None:
    log = BoardLog(START)
    silent, alive, gone = log.worker("silent"), log.worker("alive"), log.worker("gone")
    held, kept = log.run(), log.run()
    held.assign(gone.id, log.ctx)
    kept.assign(alive.id, log.ctx)
    gone.deregister("stopped", log.ctx)
    log.apply(held, kept, gone)
    lost = workers_to_recover(log.board, lambda slot: slot.worker_id == silent.id)
    assert sorted(lost) == sorted([(silent.id, []), (gone.id, [held.id])])


def test_a_started_run_past_timeout_and_grace_is_overdue() -> None:
    log = BoardLog(START)
    worker = log.worker()
    timed, untimed, unstarted = log.run(timeout_seconds=10), log.run(), log.run(timeout_seconds=1)
    for run in (timed, untimed):
        run.assign(worker.id, log.ctx)
        run.record_started(1, worker.id, 5, log.ctx)
    unstarted.assign(worker.id, log.ctx)
    log.apply(timed, untimed, unstarted)
    assert overdue_runs(log.board, START + timedelta(seconds=15), 5) == []
    late = overdue_runs(log.board, START + timedelta(seconds=16), 5)
    assert [r.run_id for r in late] == [timed.id]


def test_recent_heartbeats_naming_superseded_attempts_are_fenced() -> None:
    log = BoardLog(START)
    first, second = log.worker("a"), log.worker("b")
    run, done = log.run(), log.run()
    run.assign(first.id, log.ctx)
    run.requeue_after_worker_lost(3, log.ctx)
    run.assign(second.id, log.ctx)
    first.mark_lost("lease expired", log.ctx)
    log.apply(run, done, first)
    leases = {
        first.id: Lease(START, ((run.id, 1),)),
        second.id: Lease(START, ((run.id, 2), (done.id, 0))),
    }
    assert fencing_controls(log.board, leases, START) == [
        Control("rejoin", first.id),
        Control("cancel", first.id, run.id, 1),
    ]
    assert fencing_controls(log.board, leases, START + timedelta(seconds=1)) == [], "too old"
