"""Moved to application/dispatch/cron_firing.py; re-exported here for one release."""

from __future__ import annotations

from application.dispatch.cron_firing import (
    MAX_CATCH_UP,
    MAX_SLOTS_COUNTED,
    MISFIRE_THRESHOLD,
    TIMING_EVENTS,
    TIMING_FIELDS,
    CronBook,
    FirePlan,
    ScheduledTask,
    plan_fires,
)

__all__ = [
    "MAX_CATCH_UP",
    "MAX_SLOTS_COUNTED",
    "MISFIRE_THRESHOLD",
    "TIMING_EVENTS",
    "TIMING_FIELDS",
    "CronBook",
    "FirePlan",
    "ScheduledTask",
    "plan_fires",
]
