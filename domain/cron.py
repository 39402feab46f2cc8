"""Cron expressions: 5 fields, or 6 with seconds first (Quartz/xxl-job), or a macro."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def cron_problem(expression: str) -> str | None:
    """Return what is wrong with a cron expression, or None when it is valid."""
    text = expression.strip()
    if not text:
        return "must not be empty"
    if text.startswith("@"):
        return (
            None
            if text.lower() in MACROS
            else f"unknown macro {text!r}; use one of {sorted(MACROS)}"
        )
    fields = text.split()
    if len(fields) not in (5, 6):
        return (
            f"has {len(fields)} fields; use 5 (minute hour day month weekday) "
            "or 6 with seconds first"
        )
    try:
        croniter(text, second_at_beginning=len(fields) == 6)
    except (CroniterError, ValueError, KeyError) as error:
        return f"is not a valid cron expression: {error}"
    return None


def timezone_problem(name: str) -> str | None:
    """Return what is wrong with an IANA time zone name, or None when it is known."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown IANA time zone {name!r} (for example 'UTC' or 'Europe/Berlin')"
    return None


def next_fire_time(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after`, as an aware datetime in the task's zone.

    The DST rule: a wall-clock time that happens twice when clocks go back fires only the
    first time; a wall-clock time that does not exist when clocks go forward fires once, at
    the first instant after the gap. So a daily 02:30 fires exactly once on both change days.
    """
    text = expression.strip()
    seconds_first = not text.startswith("@") and len(text.split()) == 6
    zone = ZoneInfo(timezone)
    schedule = croniter(text, after.astimezone(zone), second_at_beginning=seconds_first)
    for _ in range(MAX_DST_SKIPS):
        candidate: datetime = schedule.get_next(datetime)
        if not _second_occurrence(candidate):
            return candidate
    return candidate


MAX_DST_SKIPS = 10_000  # the repeated hour of a per-second schedule has 3,600 candidates


def _second_occurrence(moment: datetime) -> bool:
    # The same wall time with fold=0 is an earlier, different instant: this is the repeat.
    first = moment.replace(fold=0)
    return moment.utcoffset() != first.utcoffset() and first.astimezone(UTC) < moment.astimezone(
        UTC
    )
