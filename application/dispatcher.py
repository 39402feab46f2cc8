"""Moved to application/dispatch/; these names are re-exported here for one release."""

from __future__ import annotations

from application.dispatch.assignment import QUEUED_REASON, no_eligible_reason
from application.dispatch.board import FINISHED_REMEMBERED, DispatchBoard
from application.dispatch.books import BOARD, CRON, DEPENDENCIES, REQUESTED_TOPIC, SCHEDULES
from application.dispatch.dispatcher import Dispatcher
from application.dispatch.entries import OpenRun, WorkerSlot
from application.dispatch.health import BEAT_EVERY_SECONDS
from application.dispatch.policy import (
    DispatcherBeacon,
    DispatchObserver,
    DispatchPolicy,
    NullBeacon,
    NullObserver,
)

__all__ = [
    "BEAT_EVERY_SECONDS",
    "BOARD",
    "CRON",
    "DEPENDENCIES",
    "FINISHED_REMEMBERED",
    "QUEUED_REASON",
    "REQUESTED_TOPIC",
    "SCHEDULES",
    "DispatchBoard",
    "DispatchObserver",
    "DispatchPolicy",
    "Dispatcher",
    "DispatcherBeacon",
    "NullBeacon",
    "NullObserver",
    "OpenRun",
    "WorkerSlot",
    "no_eligible_reason",
]
