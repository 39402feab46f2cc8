"""When a task fires: a cron schedule, a fixed interval, or one moment (`run_at`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.cron import next_fire_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def has_timing(spec: Mapping[str, Any]) -> bool:
    """Whether the definition fires by itself (cron, interval or run_at)."""
    return bool(spec.get("schedule") or spec.get("interval_seconds") or spec.get("run_at"))


def next_slot(spec: Mapping[str, Any], after: datetime) -> datetime | None:
    """The first nominal fire time strictly after `after`, or None when there is none.

    Intervals are aligned to the Unix epoch (as Temporal's interval specs are), so every
    dispatcher computes the same slots without any stored origin: every 60 s fires at :00.
    """
    if spec.get("schedule"):
        return next_fire_time(str(spec["schedule"]), str(spec.get("timezone") or "UTC"), after)
    if interval := spec.get("interval_seconds"):
        return next_interval_slot(int(interval), after)
    if run_at := spec.get("run_at"):
        moment = parse_moment(run_at)
        return moment if moment > after else None
    return None


def next_interval_slot(interval_seconds: int, after: datetime) -> datetime:
    """The first multiple of the interval since the epoch strictly after `after`."""
    period = timedelta(seconds=interval_seconds)
    return EPOCH + ((after - EPOCH) // period + 1) * period  # integer maths: no float drift


def parse_moment(value: datetime | str) -> datetime:
    """A stored `run_at` (ISO text in events) as an aware datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
