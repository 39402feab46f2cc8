"""When a task fires: a cron schedule, a fixed interval, or one moment (`run_at`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.cron import evaluating, next_fire_time
from domain.errors import ScheduleError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRES_CHECKED = 3  # how many next fires a definition must yield before it is accepted
# The furthest past a slot that consumers compute times: the catch-up window (at most a
# year), timeouts (a week) and retry delays (a week). A slot must leave this much room.
HEADROOM = timedelta(days=400)


def has_timing(spec: Mapping[str, Any]) -> bool:
    """Whether the definition fires by itself (cron, interval or run_at)."""
    return bool(spec.get("schedule") or spec.get("interval_seconds") or spec.get("run_at"))


def timing_field(spec: Mapping[str, Any]) -> str | None:
    """The field that makes the definition fire (schedule, interval_seconds, run_at), if any."""
    for name in ("schedule", "interval_seconds", "run_at"):
        if spec.get(name):
            return name
    return None


def next_slot(spec: Mapping[str, Any], after: datetime) -> datetime | None:
    """The first nominal fire time strictly after `after`, or None when there is none.

    Intervals are aligned to the Unix epoch (as Temporal's interval specs are), so every
    dispatcher computes the same slots without any stored origin: every 60 s fires at :00.

    Raises:
        ScheduleError: the timing cannot be evaluated, or its slot has no UTC time (the only
            error this raises).
    """
    field = timing_field(spec)
    slot = _next_slot(spec, after)
    if slot is not None and field is not None:
        with evaluating(field):
            slot.astimezone(UTC)  # every consumer stores and derives ids from the UTC time
    return slot


def _next_slot(spec: Mapping[str, Any], after: datetime) -> datetime | None:
    if spec.get("schedule"):
        return next_fire_time(str(spec["schedule"]), str(spec.get("timezone") or "UTC"), after)
    if interval := spec.get("interval_seconds"):
        with evaluating("interval_seconds"):
            seconds = int(interval)
        return next_interval_slot(seconds, after)
    if run_at := spec.get("run_at"):
        moment = parse_moment(run_at)
        with evaluating("run_at"):
            return moment if moment > after else None
    return None


def next_interval_slot(interval_seconds: int, after: datetime) -> datetime:
    """The first multiple of the interval since the epoch strictly after `after`.

    Raises:
        ScheduleError: the interval is not positive or the slot is beyond the calendar.
    """
    with evaluating("interval_seconds"):
        period = timedelta(seconds=interval_seconds)
        if period <= timedelta(0):  # checked first: the floor division below needs it
            raise ValueError(f"interval must be positive, not {interval_seconds}")
        return EPOCH + ((after - EPOCH) // period + 1) * period  # integer maths: no float drift


def parse_moment(value: datetime | str) -> datetime:
    """A stored `run_at` (ISO text in events) as an aware datetime.

    Raises:
        ScheduleError: the value is not an ISO 8601 moment.
    """
    with evaluating("run_at"):
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def timing_problem(spec: Mapping[str, Any], after: datetime) -> ScheduleError | None:
    """Why the definition's timing cannot be followed, or None: its next fires are computed.

    Evaluates, as the consumers do, the next FIRES_CHECKED slots after `after` in the task's
    zone (croniter's search is bounded), and checks that each slot converts to UTC with
    HEADROOM to spare. A pattern check cannot see February 31; this can.
    """
    field = timing_field(spec)
    if field is None:
        return None
    try:
        if field == "run_at":
            _ensure_room(parse_moment(spec["run_at"]), "run_at")
        slot = after
        for _ in range(FIRES_CHECKED):
            found = next_slot(spec, slot)
            if found is None:
                break
            slot = found
            _ensure_room(slot, field)
    except ScheduleError as error:
        return error
    return None


def _ensure_room(slot: datetime, field: str) -> None:
    with evaluating(field):
        try:
            slot.astimezone(UTC) + HEADROOM
        except OverflowError:
            raise ScheduleError(
                field,
                f"{slot.isoformat()} is out of range: the scheduler converts fire times to UTC "
                f"and adds up to {HEADROOM.days} days to them, which must stay within years "
                "1 to 9999",
            ) from None
