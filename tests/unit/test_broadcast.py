"""Broadcast routing: one shard run per live eligible worker, told its index and total."""

from __future__ import annotations

from application.messages import Delivery, Report
from domain.task_run import RunStatus, TaskRun
from tests.unit.rig import Rig


def shards_of(rig: Rig, run_id: object) -> list[TaskRun.ShardRequested]:
    return [
        e
        for _, e in rig.app.read_log(0, 10_000)
        if isinstance(e, TaskRun.ShardRequested) and e.parent_run_id == run_id
    ]


def report_all(rig: Rig, shards: list[TaskRun.ShardRequested], failing: int | None = None) -> None:
    reports = [
        Report(
            "failed" if s.shard_index == failing else "succeeded",
            s.originator_id,
            1,
            s.target_worker_id,
            exit_code=2 if s.shard_index == failing else 0,
        )
        for s in shards
    ]
    rig.app.record_reports(reports, rig.clock.now())
    rig.dispatcher.step()
    rig.dispatcher.step()


def test_each_live_worker_gets_one_shard_with_its_index_and_the_total(rig: Rig) -> None:
    workers = [rig.worker(name, capacity=1) for name in ("w-a", "w-b", "w-c")]
    run_id = rig.trigger("fan", routing_strategy="broadcast")
    rig.dispatcher.step()
    rig.dispatcher.step()
    shards = shards_of(rig, run_id)
    assert [s.shard_index for s in shards] == [0, 1, 2]
    assert [s.target_worker_id for s in shards] == workers  # stable order: by worker name
    for shard, worker in zip(shards, workers, strict=True):
        [delivery] = [m for m in rig.inbox(worker) if isinstance(m, Delivery)]
        assert delivery.run_id == shard.originator_id
        assert (delivery.shard_index, delivery.shard_total) == (shard.shard_index, 3)
    assert rig.app.get_run(run_id).status is RunStatus.RUNNING
    report_all(rig, shards)
    assert rig.app.get_run(run_id).status is RunStatus.SUCCEEDED


def test_a_failed_shard_fails_the_broadcast_run_naming_it(rig: Rig) -> None:
    for name in ("w-a", "w-b"):
        rig.worker(name)
    run_id = rig.trigger("fan", routing_strategy="broadcast", retry_count=0)
    rig.dispatcher.step()
    rig.dispatcher.step()
    report_all(rig, shards_of(rig, run_id), failing=1)
    final = list(rig.app.events.get(run_id))[-1]
    assert rig.app.get_run(run_id).status is RunStatus.FAILED
    assert final.error == "1 of 2 shards did not succeed: shard 1 failed"


def test_cancelling_a_broadcast_run_cancels_its_shards(rig: Rig) -> None:
    for name in ("w-a", "w-b"):
        rig.worker(name)
    run_id = rig.trigger("fan", routing_strategy="broadcast")
    rig.dispatcher.step()
    rig.dispatcher.step()
    rig.app.cancel_run(run_id, "operator", rig.ctx())
    shards = shards_of(rig, run_id)
    assert {rig.app.get_run(s.originator_id).status for s in shards} == {RunStatus.CANCELLED}
    assert rig.app.get_run(run_id).status is RunStatus.CANCELLED
