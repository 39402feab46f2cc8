"""Replaying an aggregate's events always gives back the live aggregate, field for field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from application.commands.app import SchedulerApp
from application.messages import Report
from application.ports import FakeClock
from tests.unit.rig import Rig, make_spec


@pytest.fixture
def live_rig(clock: FakeClock) -> Iterator[Rig]:
    """A rig whose repository hands back the aggregates the commands changed (the cache),
    not a fresh replay, so the comparison below is live state against replayed state."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.popo",
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
    }
    with SchedulerApp(env=env) as app:
        yield Rig(app, clock)


def fold(events: Any) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def test_every_aggregate_rebuilt_from_its_events_equals_the_live_one(live_rig: Rig) -> None:
    rig = live_rig
    workers = [rig.worker(name, capacity=3) for name in ("w-a", "w-b")]
    upstream = rig.trigger("extract", retry_count=1, retry_delay_seconds=0)
    upstreams = [str(rig.app.task_id_for_name("extract"))]
    rig.app.create_task(make_spec(name="load", depends_on=upstreams), rig.ctx())
    broadcast = rig.trigger("everywhere", routing_strategy="broadcast")
    rig.trigger("cron", schedule="* * * * *", concurrency_policy="skip")
    for _ in range(3):
        rig.advance(61)
        for worker in workers:
            rig.beat(worker)
        rig.dispatcher.step()
        rig.dispatcher.step()
        running = [
            (run_id, rig.app.get_run(run_id))
            for run_id in list(rig.dispatcher.board.open_runs)
            if rig.dispatcher.board.open_runs[run_id].worker_id is not None
        ]
        rig.app.record_reports(
            [
                Report(
                    "failed" if run_id == upstream and run.attempt == 1 else "succeeded",
                    run_id,
                    run.attempt,
                    run.worker_id,
                    exit_code=1 if run_id == upstream and run.attempt == 1 else 0,
                )
                for run_id, run in running
            ],
            rig.clock.now(),
        )
    rig.app.pause_task(rig.app.task_id_for_name("cron"), "done", rig.ctx())
    if not rig.app.get_run(broadcast).is_finished:
        rig.app.cancel_run(broadcast, "enough", rig.ctx())
    rig.app.drain_worker(workers[1], "scale down", rig.ctx())
    log = [event for _, event in rig.app.read_log(0, 100_000)]
    kinds = {type(event).__name__ for event in log}
    assert {"ShardRequested", "RetryScheduled", "Skipped", "DrainStarted"} <= kinds, kinds
    assert any(getattr(e, "trigger", None) == "dependency" for e in log)
    ids = {event.originator_id for event in log}
    for aggregate_id in ids:
        live = rig.app.repository.get(aggregate_id)
        replayed = fold(rig.app.events.get(aggregate_id))
        assert type(replayed) is type(live)
        assert vars(replayed) == vars(live), f"{type(live).__name__} {aggregate_id}"
