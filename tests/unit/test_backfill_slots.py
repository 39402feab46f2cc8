"""Backfill slots: every slot of a window, both ends in, bounded; the aggregate's limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.backfill import Backfill, BackfillStatus
from domain.backfill_slots import MAX_SLOTS, window_slots
from domain.context import CommandContext
from domain.errors import IllegalTransitionError, InvalidFieldError
from domain.task_run import TaskRun

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOURLY = {"schedule": "0 * * * *", "timezone": "UTC"}
CTX = CommandContext("tester", T0, uuid.uuid4())


def start(timing: dict | None = None, hours: int = 5, concurrency: int = 2) -> Backfill:
    return Backfill.start(
        uuid.uuid4(),
        task_id=uuid.uuid4(),
        task_version=1,
        timing=timing or HOURLY,
        window=(T0, T0 + timedelta(hours=hours)),
        concurrency=concurrency,
        overlap_policy="allow",
        ctx=CTX,
    )


def test_a_window_lists_every_slot_with_both_ends_included() -> None:
    slots = window_slots(HOURLY, T0, T0 + timedelta(hours=3))
    assert slots == [T0 + timedelta(hours=h) for h in range(4)]


def test_slots_follow_the_task_zone() -> None:
    timing = {"schedule": "0 9 * * *", "timezone": "Europe/Paris"}
    slots = window_slots(timing, T0, T0 + timedelta(days=2))
    assert [s.astimezone(UTC).hour for s in slots] == [8, 8]


def test_an_interval_task_has_epoch_aligned_slots() -> None:
    slots = window_slots(
        {"interval_seconds": 900}, T0 + timedelta(minutes=1), T0 + timedelta(hours=1)
    )
    assert slots == [T0 + timedelta(minutes=m) for m in (15, 30, 45, 60)]


def test_a_window_beyond_the_bound_is_refused_naming_to() -> None:
    every_minute = {"schedule": "* * * * *"}
    end = T0 + timedelta(minutes=MAX_SLOTS)  # MAX_SLOTS + 1 slots with both ends
    with pytest.raises(InvalidFieldError) as caught:
        window_slots(every_minute, T0, end)
    assert caught.value.field == "to"
    assert len(window_slots(every_minute, T0, end - timedelta(minutes=1))) == MAX_SLOTS


def test_a_reversed_window_and_a_manual_task_are_refused() -> None:
    with pytest.raises(InvalidFieldError) as reversed_window:
        window_slots(HOURLY, T0, T0 - timedelta(hours=1))
    assert reversed_window.value.field == "to"
    with pytest.raises(InvalidFieldError) as manual:
        window_slots({"schedule": None}, T0, T0 + timedelta(hours=1))
    assert manual.value.field == "schedule"


@pytest.mark.parametrize(("field", "overrides"), [("concurrency", 0), ("overlap_policy", "x")])
def test_bad_limits_are_refused_naming_the_field(field: str, overrides: object) -> None:
    kwargs = {"concurrency": 2, "overlap_policy": "allow", field: overrides}
    with pytest.raises(InvalidFieldError) as caught:
        Backfill.start(
            uuid.uuid4(),
            task_id=uuid.uuid4(),
            task_version=1,
            timing=HOURLY,
            window=(T0, T0 + timedelta(hours=1)),
            ctx=CTX,
            **kwargs,  # type: ignore[arg-type]
        )
    assert caught.value.field == field


def test_slots_are_released_in_order_never_past_the_concurrency_limit() -> None:
    backfill = start(hours=5, concurrency=2)
    assert backfill.slots_total == 6
    first = list(backfill.undecided_slots())[:2]
    backfill.request_slots(first, [], CTX)
    assert backfill.free == 0
    with pytest.raises(IllegalTransitionError):
        backfill.request_slots([T0 + timedelta(hours=2)], [], CTX)
    assert backfill.in_flight == [TaskRun.fire_id(backfill.task_id, t) for t in first]
    assert next(iter(backfill.undecided_slots())) == T0 + timedelta(hours=2)


def test_finished_runs_free_room_and_the_last_one_completes_it() -> None:
    backfill = start(hours=1, concurrency=2)
    slots = list(backfill.undecided_slots())
    backfill.request_slots(slots[:1], slots[1:], CTX)
    assert not backfill.complete_if_done(CTX)
    [run_id] = backfill.in_flight
    backfill.record_finished({run_id: True, uuid.uuid4(): False}, CTX)  # a stranger is ignored
    assert (backfill.finished, backfill.failed, backfill.existing) == (1, 1, 1)
    assert backfill.complete_if_done(CTX)
    assert backfill.status == BackfillStatus.COMPLETED


def test_a_cancelled_backfill_requests_nothing_more() -> None:
    backfill = start()
    backfill.cancel("enough", [], CTX)
    assert backfill.free == 0
    with pytest.raises(IllegalTransitionError):
        backfill.request_slots([T0], [], CTX)
    with pytest.raises(IllegalTransitionError):
        backfill.cancel("again", [], CTX)


def test_a_window_at_the_start_of_the_calendar_is_refused_naming_from() -> None:
    first = datetime(1, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidFieldError) as caught:
        window_slots(HOURLY, first, first + timedelta(hours=2))
    assert caught.value.field == "from"
