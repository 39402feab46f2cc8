"""A limited number of scheduled runs: fires count down, the last one pauses the task."""

from __future__ import annotations

import pytest

from domain.statuses import TaskStatus
from domain.task import Task
from domain.task_run import TaskRun
from domain.task_spec import SpecValidationError
from tests.unit.conftest import make_spec
from tests.unit.rig import Rig


def cron_runs(rig: Rig) -> list[TaskRun.Requested]:
    return [
        e
        for _, e in rig.app.read_log(0, 10_000)
        if isinstance(e, TaskRun.Requested) and e.trigger == "cron"
    ]


def tick(rig: Rig, seconds: int, rounds: int) -> None:
    for _ in range(rounds):
        rig.advance(seconds)
        rig.dispatcher.step()


def test_each_fire_counts_down_and_the_last_one_pauses_the_task(rig: Rig) -> None:
    spec = make_spec(name="limited", interval_seconds=10, remaining_runs=2)
    task_id = rig.app.create_task(spec, rig.ctx()).aggregate_id
    tick(rig, 10, 5)
    runs = cron_runs(rig)
    assert len(runs) == 2
    task = rig.app.get_task(task_id)
    assert (task.spec["remaining_runs"], task.status) == (0, TaskStatus.PAUSED)
    assert (
        task.pause_reason
        == f"remaining_runs is 0: the last one fired (run {runs[-1].originator_id})"
    )
    counted = [e for e in rig.app.events.get(task_id) if isinstance(e, Task.Updated)]
    assert [e.changes for e in counted] == [{"remaining_runs": 1}, {"remaining_runs": 0}]
    assert {e.metadata["actor"] for e in counted} == {rig.dispatcher.name}


def test_manual_triggers_do_not_count(rig: Rig) -> None:
    spec = make_spec(name="manual", interval_seconds=3_600, remaining_runs=1)
    task_id = rig.app.create_task(spec, rig.ctx()).aggregate_id
    rig.trigger("manual")
    rig.trigger("manual")
    rig.dispatcher.step()
    assert rig.app.get_task(task_id).spec["remaining_runs"] == 1


def test_a_task_resumed_with_none_left_fires_nothing_and_pauses_again(rig: Rig) -> None:
    spec = make_spec(name="spent", interval_seconds=10, remaining_runs=1)
    task_id = rig.app.create_task(spec, rig.ctx()).aggregate_id
    tick(rig, 10, 2)
    rig.app.resume_task(task_id, rig.ctx())
    tick(rig, 10, 2)
    assert len(cron_runs(rig)) == 1
    task = rig.app.get_task(task_id)
    assert task.status is TaskStatus.PAUSED
    assert task.pause_reason == "remaining_runs is 0: set remaining_runs to fire again"
    rig.app.update_task(task_id, {"remaining_runs": 1}, rig.ctx())
    rig.app.resume_task(task_id, rig.ctx())
    tick(rig, 10, 2)
    assert len(cron_runs(rig)) == 2


def test_without_a_limit_nothing_is_counted(rig: Rig) -> None:
    task_id = rig.app.create_task(make_spec(name="free", interval_seconds=10), rig.ctx())
    tick(rig, 10, 3)
    assert len(cron_runs(rig)) == 3
    assert [type(e) for e in rig.app.events.get(task_id.aggregate_id)] == [Task.Created]


@pytest.mark.parametrize("value", [-1, 1_000_001, True, 2.5])
def test_bad_limits_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(SpecValidationError) as error:
        make_spec(remaining_runs=value)
    assert [field for field, _ in error.value.problems] == ["remaining_runs"]
