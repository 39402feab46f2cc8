"""The slots of a task's timing inside a window: what a backfill fires and a preview lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from domain.errors import InvalidFieldError, ScheduleError
from domain.timing import has_timing, next_slot

MAX_SLOTS = 10_000  # the most slots one backfill (or its preview) may cover
TIMING_KEYS = ("schedule", "timezone", "interval_seconds", "run_at")
JUST_BEFORE = timedelta(microseconds=1)  # next_slot is strictly after: start one tick earlier


def timing_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a definition that say when it fires (what a backfill keeps)."""
    return {key: spec.get(key) for key in TIMING_KEYS}


def slots_after(
    timing: Mapping[str, Any], after: datetime | None, start: datetime, end: datetime
) -> Iterator[datetime]:
    """The slots in [start, end] strictly after `after` (None: from `start`), oldest first."""
    slot = next_slot(timing, max(start - JUST_BEFORE, after) if after else start - JUST_BEFORE)
    while slot is not None and slot <= end:
        yield slot
        slot = next_slot(timing, slot)


def window_slots(timing: Mapping[str, Any], start: datetime, end: datetime) -> list[datetime]:
    """Every slot of the timing in [start, end], both ends included.

    Raises:
        InvalidFieldError: the window is empty or reversed (`to`), the timing fires by
            itself never (`schedule`), or the window holds more than MAX_SLOTS (`to`).
    """
    if end < start:
        raise InvalidFieldError("to", "must not be before `from`")
    if not has_timing(timing):
        raise InvalidFieldError(
            "schedule", "the task has no schedule, interval or run_at: it has no slots"
        )
    found: list[datetime] = []
    try:
        for slot in slots_after(timing, None, start, end):
            if len(found) == MAX_SLOTS:
                raise InvalidFieldError(
                    "to",
                    f"the window holds more than {MAX_SLOTS} slots; the last one allowed is "
                    f"{found[-1].isoformat()}: end the window there and backfill the rest after",
                )
            found.append(slot)
    except (OverflowError, ScheduleError) as error:  # a window at the edge of the calendar
        raise InvalidFieldError("from", f"the slots cannot be computed so early: {error}") from None
    return found
