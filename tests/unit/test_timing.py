"""Interval and one-shot timing: slots, misfires, and refusal of times already gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.dispatch.cron_firing import plan_fires
from domain.context import CommandContext
from domain.task import Task
from domain.task_spec import SpecValidationError, validate_spec
from domain.timing import next_interval_slot, next_slot
from tests.unit.conftest import make_spec

T0 = datetime(2026, 11, 28, 12, 0, 7, tzinfo=UTC)


def test_intervals_are_aligned_to_the_epoch_so_every_dispatcher_agrees() -> None:
    assert next_interval_slot(60, T0) == datetime(2026, 11, 28, 12, 1, tzinfo=UTC)
    assert next_interval_slot(15, T0) == datetime(2026, 11, 28, 12, 0, 15, tzinfo=UTC)
    on_a_slot = datetime(2026, 11, 28, 12, 0, 15, tzinfo=UTC)
    assert next_interval_slot(15, on_a_slot) == on_a_slot + timedelta(seconds=15)


@given(
    st.integers(min_value=1, max_value=86_400 * 7),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_the_next_interval_slot_is_after_and_at_most_one_interval_away(
    interval: int, after: datetime
) -> None:
    slot = next_interval_slot(interval, after)
    assert after < slot <= after + timedelta(seconds=interval)
    assert (slot - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() % interval == 0


def test_an_interval_task_fires_each_slot_and_misfires_per_policy() -> None:
    timing = {"interval_seconds": 30}
    on_time = plan_fires(timing, T0, T0 + timedelta(seconds=65), "skip", 3600)
    assert [(s.minute, s.second) for s in on_time.fires] == [(0, 30), (1, 0)]
    assert on_time.missed_count == 0
    late = plan_fires(timing, T0, T0 + timedelta(minutes=10), "fire_once", 3600)
    assert late.missed_count == 17 and late.reason and "fire_once" in late.reason
    assert len(late.fires) == 3  # the newest missed slot plus the two on time


def test_run_at_fires_once_then_never_again() -> None:
    moment = T0 + timedelta(minutes=5)
    timing = {"run_at": moment.isoformat()}
    assert next_slot(timing, T0) == moment
    assert next_slot(timing, moment) is None
    plan = plan_fires(timing, T0, moment + timedelta(seconds=1), "fire_once", 3600)
    assert plan.fires == (moment,)


def test_a_missed_run_at_beyond_the_window_is_recorded_not_fired() -> None:
    moment = T0 + timedelta(minutes=5)
    plan = plan_fires(
        {"run_at": moment.isoformat()}, T0, moment + timedelta(hours=2), "catch_up", 600
    )
    assert plan.fires == () and plan.missed_count == 1 and plan.missed_first == moment


def test_only_one_kind_of_timing_is_accepted() -> None:
    with pytest.raises(SpecValidationError, match="only one of"):
        validate_spec(
            {"name": "t", "command": "true", "schedule": "* * * * *", "interval_seconds": 5}
        )
    with pytest.raises(SpecValidationError, match="interval_seconds"):
        validate_spec({"name": "t", "command": "true", "interval_seconds": 0})
    with pytest.raises(SpecValidationError, match="run_at"):
        validate_spec({"name": "t", "command": "true", "run_at": "2030-01-01T00:00:00"})


def test_a_run_at_already_gone_is_refused_saying_when_now_is(ctx: CommandContext) -> None:
    past = make_spec(run_at=(ctx.now - timedelta(seconds=1)).isoformat())
    with pytest.raises(SpecValidationError, match="not in the future"):
        Task.create(ctx.correlation_id, past, ctx)
    task = Task.create(ctx.correlation_id, make_spec(), ctx)
    with pytest.raises(SpecValidationError, match="run_at"):
        task.update({"run_at": ctx.now.isoformat()}, ctx)
    assert task.spec["run_at"] is None
