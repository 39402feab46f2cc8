"""One archive round: apply the window, export the closed runs, remove them from the live store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from application.archive.export import ArchiveError, ArchiveExporter
from application.archive.files import manifest_summary, read_manifests
from application.archive.ports import LiveStore, Removal
from application.audit import AuditChainFollower, ChainStore
from domain.context import CommandContext

if TYPE_CHECKING:
    from application.commands.app import SchedulerApp


@dataclass(frozen=True)
class ExportOutcome:
    """What `archive export` did."""

    cutoff: datetime
    horizon: int
    file: dict[str, Any] | None  # the manifest summary; None when nothing was closed
    removal: Removal | None


def retention_cutoff(now: datetime, window_hours: float) -> datetime:
    """Runs that finished before this moment are outside the window."""
    return now - timedelta(hours=window_hours)


@dataclass
class Archiving:
    """Retention decisions and archive files for one store."""

    app: SchedulerApp
    chain: ChainStore
    live: LiveStore
    directory: Path

    def export(
        self, cutoff: datetime, window_hours: float, ctx: CommandContext, detach: bool, keep: bool
    ) -> ExportOutcome:
        """Apply the window, write the next file of closed runs, and (if asked) detach them.

        Raises:
            ArchiveError: the directory does not continue the log's chain of files, or the
                store cannot remove rows (SQLite) when `detach` is asked.
        """
        if detach and not self.live.removes:
            raise ArchiveError(
                "this store cannot remove archived events (SQLite keeps them): drop --detach"
            )
        self.app.apply_retention(cutoff, window_hours, ctx)
        self.live.keep_ahead()
        AuditChainFollower(self.app.stored_log, self.chain).catch_up()
        previous = self._previous_file()
        chained = self.chain.head()
        floor = min(self.live.consumer_floor(), chained.position if chained else 0)
        horizon = self.live.horizon_at_or_below(floor + 1)
        if horizon <= 1:
            return ExportOutcome(cutoff, horizon, None, None)
        exporter = ArchiveExporter(self.app.stored_log, self.chain, self.app.decode)
        manifest, closed = exporter.export(self.directory, horizon, cutoff, ctx.now, previous)
        if manifest is None:
            return ExportOutcome(cutoff, horizon, None, None)
        summary = manifest_summary(manifest)
        self.app.record_archive(summary, ctx)
        removal = self.live.remove_archived(horizon, closed, keep) if detach else None
        return ExportOutcome(cutoff, horizon, summary, removal)

    def _previous_file(self) -> Any:
        manifests = read_manifests(self.directory)
        retention = self.app.retention()
        expected = retention.last_sha256 if retention else ""
        newest = manifests[-1] if manifests else None
        if (newest.sha256 if newest else "") != expected:
            raise ArchiveError(
                f"{self.directory} does not continue the log's archive chain: its newest "
                f"manifest is {newest.path.name if newest else 'absent'}, the log's last "
                f"Retention.ArchiveExported names sha256 {expected or '(none)'}"
            )
        return newest
