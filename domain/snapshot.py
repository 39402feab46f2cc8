"""Snapshots of long-lived aggregates, under a topic that does not depend on module paths."""

from __future__ import annotations

from eventsourcing.domain import Snapshot


class SchedulerSnapshot(Snapshot):
    """An aggregate's state at a version; kept in the snapshot store, never in the log."""

    TOPIC = "scheduler:Snapshot"
