"""The dispatcher's memo of cron slots answers exactly what evaluating the schedule answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.slots import SlotMemo
from domain.errors import ScheduleError
from domain.timing import next_slot

SCHEDULES = ["* * * * *", "*/7 * * * *", "0 3 1 1 *", "30 */5 * * * *", "0 9 * * 1-5", "@hourly"]
START = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(
    schedule=st.sampled_from(SCHEDULES),
    offsets=st.lists(st.integers(min_value=0, max_value=3 * 86_400), min_size=1, max_size=40),
)
def test_every_answer_is_the_schedules_own(schedule: str, offsets: list[int]) -> None:
    memo = SlotMemo()
    timing = {"schedule": schedule, "timezone": "UTC"}
    for offset in offsets:  # in any order: earlier spans must not answer for later anchors
        after = START + timedelta(seconds=offset, microseconds=offset % 7)
        assert memo.next_slot(timing, after) == next_slot(timing, after)


def test_tasks_of_one_schedule_share_one_evaluation_per_span() -> None:
    memo = SlotMemo()
    timing = {"schedule": "0 3 1 1 *", "timezone": None}
    anchors = [START + timedelta(milliseconds=5 * i) for i in range(10_000)]
    slots = {memo.next_slot(timing, anchor) for anchor in anchors}
    assert slots == {datetime(2027, 1, 1, 3, 0, tzinfo=UTC)}
    assert memo.evaluated == 1


def test_the_slot_itself_starts_the_next_span() -> None:
    memo = SlotMemo()
    timing = {"schedule": "* * * * *"}
    slot = memo.next_slot(timing, START)
    assert slot == START + timedelta(minutes=1)
    assert memo.next_slot(timing, slot) == START + timedelta(minutes=2)  # strictly after
    assert memo.evaluated == 2


def test_other_zones_intervals_and_naive_times_are_evaluated_each_time() -> None:
    memo = SlotMemo()
    berlin = {"schedule": "30 2 * * *", "timezone": "Europe/Berlin"}
    for _ in range(3):
        assert memo.next_slot(berlin, START) == next_slot(berlin, START)
    interval = {"interval_seconds": 60}
    assert memo.next_slot(interval, START) == START + timedelta(minutes=1)
    naive = START.replace(tzinfo=None)
    utc = {"schedule": "* * * * *"}
    assert memo.next_slot(utc, naive) == next_slot(utc, naive)
    assert memo.evaluated == 0  # none of these was remembered


def test_a_schedule_that_cannot_be_evaluated_raises_every_time() -> None:
    memo = SlotMemo()
    for _ in range(2):
        with pytest.raises(ScheduleError):
            memo.next_slot({"schedule": "0 0 31 2 *"}, START)
