"""Per-schedule jitter: a fixed offset per slot; the run keeps its slot and its id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from application.dispatch.cron_firing import plan_fires
from application.dispatch.dispatcher import Dispatcher
from application.ports import Wakeup
from domain.jitter import jitter_offset
from domain.task_run import TaskRun
from domain.task_spec import SpecValidationError
from tests.unit.conftest import make_spec
from tests.unit.rig import Rig

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_offset_is_fixed_per_task_and_slot_and_within_the_jitter() -> None:
    task_id = uuid.uuid4()
    slots = [SLOT + timedelta(minutes=n) for n in range(200)]
    offsets = [jitter_offset(task_id, slot, 30) for slot in slots]
    assert offsets == [jitter_offset(task_id, slot, 30) for slot in slots]
    assert all(timedelta(0) <= o <= timedelta(seconds=30) for o in offsets)
    assert len(set(offsets)) > 100  # spread, not one shared delay
    assert jitter_offset(uuid.uuid4(), SLOT, 30) != jitter_offset(task_id, SLOT, 30)
    assert jitter_offset(task_id, SLOT, 0) == timedelta(0)


def test_an_old_or_unvalidated_value_means_no_jitter() -> None:
    for value in (None, "30", True, -5, 2.5):
        assert jitter_offset(uuid.uuid4(), SLOT, value) == timedelta(0)


def test_a_slot_fires_at_its_moment_not_at_its_nominal_time(rig: Rig) -> None:
    spec = make_spec(name="jittered", interval_seconds=600, jitter_seconds=300)
    task_id = rig.app.create_task(spec, rig.ctx()).aggregate_id
    now = rig.clock.now()
    slot = datetime.fromtimestamp((now.timestamp() // 600 + 1) * 600, UTC)
    moment = slot + jitter_offset(task_id, slot, 300)
    rig.advance((moment - now).total_seconds() - 0.5)
    rig.dispatcher.step()
    assert cron_runs(rig) == []
    rig.advance(1)
    rig.dispatcher.step()
    [run] = cron_runs(rig)
    assert run.nominal_time == slot
    assert run.originator_id == TaskRun.fire_id(task_id, slot)


def test_lateness_counts_from_the_jittered_moment() -> None:
    timing = {"interval_seconds": 600}
    now = SLOT + timedelta(seconds=200)
    on_time = plan_fires(
        timing,
        SLOT - timedelta(seconds=1),
        now,
        "skip",
        0,
        fire_at=lambda s: s + timedelta(seconds=180),
    )
    assert on_time.fires == (SLOT,) and on_time.missed_count == 0
    unjittered = plan_fires(timing, SLOT - timedelta(seconds=1), now, "skip", 0)
    assert unjittered.fires == () and unjittered.missed_count == 1


@pytest.mark.parametrize("value", [-1, 3_601, True, 1.5])
def test_bad_jitter_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(SpecValidationError) as error:
        make_spec(jitter_seconds=value)
    assert [field for field, _ in error.value.problems] == ["jitter_seconds"]


def cron_runs(rig: Rig) -> list[TaskRun.Requested]:
    return [
        e
        for _, e in rig.app.read_log(0, 10_000)
        if isinstance(e, TaskRun.Requested) and e.trigger == "cron"
    ]


def test_two_dispatchers_fire_each_jittered_slot_once_at_the_same_moment(rig: Rig) -> None:
    other = Dispatcher(
        rig.app,
        rig.bus,
        rig.liveness,
        rig.clock,
        Wakeup(),
        policy=rig.dispatcher.policy,
        monotonic=lambda: rig.ticks,
    )
    spec = make_spec(name="tick", interval_seconds=10, jitter_seconds=8)
    task_id = rig.app.create_task(spec, rig.ctx()).aggregate_id
    fired_at: dict[datetime, datetime] = {}
    for _ in range(120):  # 60 s in half seconds
        rig.advance(0.5)
        for dispatcher in (other, rig.dispatcher):
            dispatcher.follow_log()
            dispatcher.fire_due_slots()
        for run in cron_runs(rig):
            fired_at.setdefault(run.nominal_time, rig.clock.now())
    nominals = [e.nominal_time for e in cron_runs(rig)]
    assert len(nominals) == len(set(nominals)) >= 5
    for nominal, when in fired_at.items():
        moment = nominal + jitter_offset(task_id, nominal, 8)
        assert moment <= when < moment + timedelta(seconds=0.5)
