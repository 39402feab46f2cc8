"""The name `PERSISTENCE_MODULE` gives eventsourcing (Settings.eventstore_env): kept stable."""

from __future__ import annotations

from adapters.postgres.event_store import SchedulerPostgresFactory

__all__ = ["SchedulerPostgresFactory"]
