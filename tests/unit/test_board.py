"""The dispatch board changes only by applying log events; decisions reach it once, as events."""

from __future__ import annotations

import uuid

import pytest

from application.dispatch.board import DropInbox
from application.messages import Control
from application.run_definition import UnusableDefinitionError
from tests.unit.conftest import START
from tests.unit.rig import BoardLog


def test_an_assignment_reaches_the_board_only_through_its_event() -> None:
    log = BoardLog(START)
    worker, run = log.worker(), log.run()
    open_run, slot = log.board.open_runs[run.id], log.board.workers[worker.id]
    assert (open_run.worker_id, slot.running) == (None, set())
    run.assign(worker.id, log.ctx)  # decided, not yet in the log
    assert (open_run.worker_id, slot.running) == (None, set())
    log.apply(run)
    assert (open_run.worker_id, open_run.attempt, slot.running) == (worker.id, 1, {run.id})
    assert log.board.pending(START) == []


def test_a_run_that_ends_frees_its_slot_and_fences_its_attempt() -> None:
    log = BoardLog(START)
    worker, run = log.worker(), log.run()
    run.assign(worker.id, log.ctx)
    run.record_succeeded(1, 0, 1.0, "", log.ctx)
    log.apply(run)
    assert run.id not in log.board.open_runs and log.board.workers[worker.id].running == set()
    assert log.board.superseded(run.id, 1)
    assert not log.board.superseded(uuid.uuid4(), 1), "a run the board never read is not"


def test_a_newer_attempt_supersedes_the_older_one() -> None:
    log = BoardLog(START)
    first, second, run = log.worker("a"), log.worker("b"), log.run()
    run.assign(first.id, log.ctx)
    run.requeue_after_worker_lost(3, log.ctx)
    run.assign(second.id, log.ctx)
    log.apply(run)
    assert log.board.superseded(run.id, 1) and not log.board.superseded(run.id, 2)
    assert log.board.workers[first.id].running == set()
    assert log.board.workers[second.id].running == {run.id}


def test_what_events_ask_to_tell_the_bus_waits_in_log_order() -> None:
    log = BoardLog(START)
    worker, run = log.worker(), log.run()
    run.assign(worker.id, log.ctx)
    run.cancel("operator", log.ctx)
    worker.drain("scale down", log.ctx)
    worker.deregister("stopped", log.ctx)
    log.apply(run, worker)
    assert list(log.board.notices) == [
        Control("cancel", worker.id, run.id, 1),
        Control("drain", worker.id),
        DropInbox(worker.id),
    ]
    assert log.board.workers[worker.id].status == "gone"


def test_a_broadcast_run_is_done_once_every_shard_has_ended() -> None:
    log = BoardLog(START)
    workers = [log.worker("a"), log.worker("b")]
    run = log.run(routing_strategy="broadcast")
    shards = run.fan_out([w.id for w in workers], log.ctx)
    log.apply(run, *shards)
    assert log.board.open_runs[run.id].fanned_out and log.board.finished_broadcasts() == []
    for shard, worker in zip(shards, workers, strict=True):
        shard.assign(worker.id, log.ctx)
    shards[0].record_succeeded(1, 0, 1.0, "", log.ctx)
    shards[1].cancel("operator", log.ctx)
    log.apply(*shards)
    statuses = {shards[0].id: "succeeded", shards[1].id: "cancelled"}
    assert log.board.finished_broadcasts() == [(run.id, statuses)]


def test_a_run_whose_definition_the_run_path_cannot_read_fails_to_apply() -> None:
    log = BoardLog(START)
    with pytest.raises(UnusableDefinitionError, match="timeout_seconds"):
        log.run(timeout_seconds="soon")  # the guard around the board holds its aggregate
    assert log.board.open_runs == {}
