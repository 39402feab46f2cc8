"""Cron expressions: 5 fields, or 6 with seconds first (Quartz/xxl-job), or a macro."""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError

from domain.errors import ScheduleError

MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
MAX_YEARS_BETWEEN_FIRES = 50  # croniter's search bound; Feb 29 or a 5th weekday recur within it
# What croniter, zoneinfo and datetime arithmetic raise on a timing they cannot evaluate
# (CroniterError is a ValueError; ZoneInfoNotFoundError a KeyError; a payload of the wrong
# type a TypeError; an unreadable zone file an OSError).
TIMING_FAILURES: tuple[type[Exception], ...] = (
    ValueError,
    OverflowError,
    LookupError,
    TypeError,
    OSError,
)


@contextmanager
def evaluating(field: str) -> Iterator[None]:
    """Turn whatever evaluating `field` raises into one ScheduleError naming it."""
    try:
        yield
    except CroniterBadDateError:
        raise ScheduleError(
            field,
            f"never fires: no date in {MAX_YEARS_BETWEEN_FIRES} years matches it "
            "(for example February 30 or April 31)",
        ) from None
    except TIMING_FAILURES as error:
        raise ScheduleError(
            field, f"cannot be evaluated ({type(error).__name__}: {error})"
        ) from error


def cron_problem(expression: str) -> str | None:
    """Return what is wrong with a cron expression's syntax, or None when it parses."""
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


@cache
def iana_zones() -> frozenset[str]:
    """The IANA time zone keys, from the pinned tzdata package: the same on every machine."""
    try:
        listing = importlib.resources.files("tzdata").joinpath("zones").read_text()
    except (ModuleNotFoundError, OSError):
        # Without tzdata, the system database; minus the link to the host's own zone.
        return frozenset(available_timezones() - {"localtime"})
    return frozenset(listing.split())


def timezone_problem(name: str) -> str | None:
    """Return what is wrong with an IANA time zone name, or None when it is known and loads.

    Only IANA keys are accepted: `localtime`, file paths and other names whose meaning depends
    on the host would make two machines fire the same task at different instants.
    """
    if name not in iana_zones():
        return (
            f"{name!r} is not an IANA time zone key (for example 'UTC' or 'Europe/Berlin'); "
            "host-dependent names such as 'localtime' and file paths are refused"
        )
    try:
        ZoneInfo(name)
    except TIMING_FAILURES as error:
        return f"time zone {name!r} cannot be loaded on this machine: {error}"
    return None


def next_fire_time(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after `after`, as an aware datetime in the task's zone.

    The DST rule: a wall-clock time that happens twice when clocks go back fires only the
    first time; a wall-clock time that does not exist when clocks go forward fires once, at
    the first instant after the gap. So a daily 02:30 fires exactly once on both change days.

    Raises:
        ScheduleError: the zone cannot be loaded or the expression has no next fire time.
    """
    with evaluating("timezone"):
        zone = ZoneInfo(timezone)
    with evaluating("schedule"):
        text = expression.strip()
        seconds_first = not text.startswith("@") and len(text.split()) == 6
        schedule = croniter(
            text,
            after.astimezone(zone),
            second_at_beginning=seconds_first,
            max_years_between_matches=MAX_YEARS_BETWEEN_FIRES,
        )
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
