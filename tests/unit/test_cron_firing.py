"""Cron slots and misfire policies, against fixed times; DST rules as properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from application.dispatch.cron_firing import CronBook, ScheduledTask, plan_fires
from domain.cron import next_fire_time
from domain.timing import next_slot

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a_slot_on_time_fires() -> None:
    plan = plan_fires(
        {"schedule": "* * * * *", "timezone": "UTC"}, T0, T0 + timedelta(seconds=61), "skip", 3600
    )
    assert plan.fires == (T0 + timedelta(minutes=1),)
    assert plan.missed_count == 0


def test_skip_fires_nothing_missed_and_says_why() -> None:
    plan = plan_fires(
        {"schedule": "* * * * *", "timezone": "UTC"},
        T0,
        T0 + timedelta(minutes=10, seconds=5),
        "skip",
        3600,
    )
    assert plan.fires == (T0 + timedelta(minutes=10),)
    assert plan.missed_count == 9 and plan.reason == "misfire: skip policy"


def test_fire_once_fires_only_the_newest_missed_slot() -> None:
    now = T0 + timedelta(minutes=10, seconds=30)
    plan = plan_fires({"schedule": "*/5 * * * *", "timezone": "UTC"}, T0, now, "fire_once", 3600)
    assert plan.fires == (T0 + timedelta(minutes=5), T0 + timedelta(minutes=10))
    assert plan.missed_count == 0
    late = plan_fires(
        {"schedule": "* * * * *", "timezone": "UTC"},
        T0,
        T0 + timedelta(minutes=30, seconds=30),
        "fire_once",
        3600,
    )
    assert late.fires == (T0 + timedelta(minutes=29), T0 + timedelta(minutes=30))
    assert late.missed_count == 28


def test_catch_up_fires_missed_slots_inside_the_window_only() -> None:
    now = T0 + timedelta(hours=2)
    plan = plan_fires({"schedule": "*/10 * * * *", "timezone": "UTC"}, T0, now, "catch_up", 1800)
    assert plan.fires[0] == now - timedelta(minutes=30)
    assert len(plan.fires) == 4  # 30, 20, 10 minutes late (in the window) and the one on time
    assert plan.missed_count == 8
    assert plan.reason == "misfire: older than catchup_window_seconds"


def test_six_fields_mean_seconds_first() -> None:
    plan = plan_fires(
        {"schedule": "*/15 * * * * *", "timezone": "UTC"},
        T0,
        T0 + timedelta(seconds=31),
        "skip",
        60,
    )
    assert plan.fires == (T0 + timedelta(seconds=15), T0 + timedelta(seconds=30))


def fires_on(day: date, schedule: str, zone: str) -> list[datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    end = start + timedelta(days=3)
    out, slot = [], next_fire_time(schedule, zone, start)
    while slot < end:
        if slot.date() == day:
            out.append(slot)
        slot = next_fire_time(schedule, zone, slot)
    return out


def test_a_daily_0230_in_berlin_fires_exactly_once_on_both_change_days() -> None:
    spring = fires_on(date(2026, 3, 29), "30 2 * * *", "Europe/Berlin")
    autumn = fires_on(date(2026, 10, 25), "30 2 * * *", "Europe/Berlin")
    assert len(spring) == 1 and spring[0].hour == 3  # 02:30 does not exist: the first instant after
    assert len(autumn) == 1 and autumn[0].utcoffset() == timedelta(hours=2)  # the first 02:30


zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"])
schedules = st.sampled_from(["30 2 * * *", "0 * * * *", "*/20 * * * *", "15 3 * * 0", "@daily"])


@settings(max_examples=200, deadline=None)
@given(
    zones,
    schedules,
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
    ),
)
def test_the_next_fire_is_always_after_and_never_a_repeated_wall_time(
    zone: str, schedule: str, after: datetime
) -> None:
    first = next_fire_time(schedule, zone, after)
    second = next_fire_time(schedule, zone, first)
    assert after < first < second
    assert first.replace(tzinfo=None) != second.replace(tzinfo=None), "a wall time fired twice"


@settings(max_examples=150, deadline=None)
@given(
    schedule=st.sampled_from(["* * * * *", "*/10 * * * * *", "*/5 * * * *", "0 * * * *"]),
    steps=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=6),
)
def test_the_book_fires_what_plan_fires_says_also_without_evaluating_the_timing(
    schedule: str, steps: list[int]
) -> None:
    """The on-time shortcut (next_due and the slot after it, kept) agrees with plan_fires."""
    timing = {"schedule": schedule, "timezone": "UTC", "interval_seconds": None, "run_at": None}
    task = ScheduledTask(uuid4(), timing, "fire_once", 3600, active=True, anchor=T0)
    task.refresh()
    book = CronBook()
    book.tasks[task.task_id] = task
    now = T0
    for step in steps:
        now += timedelta(seconds=step)
        expected = plan_fires(timing, task.anchor, now, "fire_once", 3600)
        fires, misfires = book.due(now)
        assert [slot for _, slot in fires] == list(expected.fires)
        assert [m[3] for m in misfires] == (
            [expected.missed_count] if expected.missed_count else []
        )
        last = max([*expected.fires, expected.missed_last or T0])
        book._set(task.task_id, anchor=last)  # what the log's fired runs do
        assert task.next_due == next_slot(timing, task.anchor)
