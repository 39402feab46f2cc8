"""Cron expressions: 5 fields, or 6 with seconds first (Quartz/xxl-job), or a macro."""

from __future__ import annotations

from datetime import datetime
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
    """The first fire time strictly after `after`, as an aware datetime in the task's zone."""
    text = expression.strip()
    seconds_first = not text.startswith("@") and len(text.split()) == 6
    local_after = after.astimezone(ZoneInfo(timezone))
    return croniter(text, local_after, second_at_beginning=seconds_first).get_next(datetime)
