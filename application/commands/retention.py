"""RetentionCommands: the retention window applied and archive files recorded, as events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from application.commands.base import CommandsBase
from application.results import CommandResult
from domain.context import CommandContext
from domain.retention import RETENTION_ID, Retention


class RetentionCommands(CommandsBase):
    """Decisions about old history: a mixin of SchedulerApp."""

    def retention(self) -> Retention | None:
        """The store's retention stream, None before the first decision."""
        try:
            aggregate: Retention = self.repository.get(RETENTION_ID)
        except AggregateNotFoundError:
            return None
        return aggregate

    def apply_retention(
        self, cutoff: datetime, window_hours: float, ctx: CommandContext
    ) -> CommandResult:
        """Record Retention.Applied: runs finished before `cutoff` leave the read tables."""
        retention = self.retention() or Retention.create(ctx)
        retention.apply_window(cutoff, window_hours, ctx)
        recordings = self.save(retention)
        return CommandResult(RETENTION_ID, self._position(recordings))

    def record_archive(self, manifest: dict[str, Any], ctx: CommandContext) -> CommandResult:
        """Record Retention.ArchiveExported for a file just written."""
        retention = self.retention() or Retention.create(ctx)
        retention.record_export(manifest, ctx)
        recordings = self.save(retention)
        return CommandResult(RETENTION_ID, self._position(recordings))

    def archived_before(self) -> datetime | None:
        """Runs that ended before this moment may be archived (None: nothing archived)."""
        retention = self.retention()
        return retention.archived_before if retention else None
