"""The command side's old home: `SchedulerApp` now lives in application/commands/app.py."""

from __future__ import annotations

from application.commands.app import SNAPSHOT_INTERVAL, SchedulerApp
from application.commands.decisions import uuid5_of
from application.commands.runs import REPORT_SAVE_TRIES
from application.commands.tasks import MAX_NUMBER_DIGITS

__all__ = [
    "MAX_NUMBER_DIGITS",
    "REPORT_SAVE_TRIES",
    "SNAPSHOT_INTERVAL",
    "SchedulerApp",
    "uuid5_of",
]
