"""A dispatch round decides from the aggregates it follows in the log: it reads no aggregate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from application.dispatch.dispatcher import Dispatcher
from application.messages import Delivery, Report
from application.ports import Wakeup
from domain.task_run import RunStatus
from tests.unit.rig import Rig


class ReadRefusedError(AssertionError):
    """The store was asked for an aggregate's events during a round."""


@contextmanager
def no_aggregate_reads(rig: Rig) -> Iterator[list[Any]]:
    """The store refuses to load aggregates (reading the log stays allowed); yields the asks."""
    recorder = rig.app.recorder
    asked: list[Any] = []

    def refuse(originator_id: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(originator_id)
        raise ReadRefusedError(f"read the events of {originator_id} during a dispatch round")

    recorder.select_events = refuse  # type: ignore[method-assign]
    try:
        yield asked
    finally:
        del recorder.select_events  # the class's method again


def delivered(rig: Rig, worker: Any) -> list[Any]:
    return [m.run_id for m in rig.inbox(worker) if isinstance(m, Delivery)]


def test_assignments_reports_and_cron_fires_read_no_aggregate(rig: Rig) -> None:
    worker = rig.worker("w", capacity=10)
    runs = [rig.trigger("manual") for _ in range(3)]
    rig.trigger("tick", schedule="* * * * *")
    rig.dispatcher.follow_log()
    rig.dispatcher.step()  # the cron task's first slot is the next minute
    assert set(runs) <= set(delivered(rig, worker))
    for run_id in runs:
        rig.bus.publish_report(Report("started", run_id, 1, worker, pid=3))
    rig.advance(61)
    rig.beat(worker)
    with no_aggregate_reads(rig) as asked:
        rig.dispatcher.step()  # records the starts, fires the slot, assigns its run
        for run_id in runs:
            rig.bus.publish_report(Report("succeeded", run_id, 1, worker, exit_code=0))
        rig.dispatcher.step()  # records the ends
    assert asked == []
    assert [rig.app.get_run(r).status for r in runs] == [RunStatus.SUCCEEDED] * 3
    fired = [r for r in delivered(rig, worker) if rig.app.get_run(r).trigger == "cron"]
    assert len(fired) == 1
    assert rig.dispatcher.books.known.loads >= 7  # 3 starts, 3 ends, the cron task


def test_the_refusing_store_does_catch_a_round_that_reads(rig: Rig) -> None:
    worker = rig.worker("w")
    run_id = rig.trigger()
    rig.dispatcher.step()
    rig.inbox(worker)
    rig.dispatcher.books.known._known.clear()  # forget the run: its report must load it
    rig.bus.publish_report(Report("started", run_id, 1, worker, pid=3))
    with no_aggregate_reads(rig) as asked, pytest.raises(Exception, match="ReadRefused"):
        rig.dispatcher.record_reports()
    assert asked == [run_id]


def test_a_decision_that_was_not_saved_is_forgotten_and_loaded_again(rig: Rig) -> None:
    worker = rig.worker("w")
    run_id = rig.trigger()
    rig.dispatcher.follow_log()
    known = rig.dispatcher.books.known
    with known.serving():
        run = rig.app.get_run(run_id)
        run.assign(worker, rig.ctx())  # decided, never saved
        assert known.get(run_id) is None  # not the log's state: forgotten
        again = rig.app.get_run(run_id)  # from the store
    assert again is not run and again.status is RunStatus.PENDING
    assert known.get(run_id) is again  # and followed from there


def test_another_writers_save_reaches_the_known_run_through_the_log_only(rig: Rig) -> None:
    worker = rig.worker("w")
    run_id = rig.trigger()
    rig.dispatcher.follow_log()
    known = rig.dispatcher.books.known
    before = known.get(run_id)
    assert before is not None and before.status is RunStatus.PENDING
    other = Dispatcher(rig.app, rig.bus, rig.liveness, rig.clock, Wakeup(), name="d2")
    other.follow_log()
    other.assign_pending()  # the twin assigns it: not this dispatcher's save
    assert known.get(run_id) is before and before.status is RunStatus.PENDING
    rig.dispatcher.follow_log()  # the log brings the twin's Assigned
    assert known.get(run_id) is before and before.worker_id == worker
    with no_aggregate_reads(rig) as asked:
        assert rig.dispatcher.assign_pending() == 0  # nothing pending: no second attempt
    assert asked == []


def test_only_the_most_recently_used_scheduled_tasks_are_kept(rig: Rig) -> None:
    known = rig.dispatcher.books.known
    known._max_tasks = 2
    ticks = [rig.trigger(f"tick{i}", schedule="* * * * *") for i in range(3)]
    rig.dispatcher.follow_log()
    tasks = [rig.app.get_run(run_id).task_id for run_id in ticks]
    assert known.get(tasks[0]) is None  # the oldest went: it is loaded from the store
    assert known.get(tasks[1]) is not None and known.get(tasks[2]) is not None
    known.loaded(rig.app.get_task(tasks[0]))  # loaded again: now the most recent
    assert known.get(tasks[0]) is not None
    assert known.get(tasks[2]) is not None  # used after tasks[1] ...
    assert known.get(tasks[1]) is None  # ... so tasks[1] went


def test_the_log_is_followed_past_aggregates_no_book_follows_without_decoding_them(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.dispatcher.follow_log()
    rig.trigger("named", schedule="* * * * *")  # a task, its name reservation and a run
    decoded: list[str] = []
    decode = rig.app.decode

    def counted(stored: Any) -> Any:
        decoded.append(stored.topic)
        return decode(stored)

    monkeypatch.setattr(rig.app, "decode", counted)
    before = rig.dispatcher.position
    read = rig.dispatcher.follow_log()
    head = rig.app.head_position()
    assert rig.dispatcher.position == head and read == head - before  # every row was read past
    assert "scheduler:TaskName.Created" not in decoded
    assert {"scheduler:Task.Created", "scheduler:TaskRun.Requested"} <= set(decoded)
