"""The Retention aggregate: the decisions to drop old finished runs and to archive their events."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.aggregate import SchedulerAggregate
from domain.context import CommandContext

RETENTION_ID = uuid5(NAMESPACE_URL, "/retention")  # one per store: every decision in one stream


class Retention(SchedulerAggregate):
    """The retention window as applied, and every archive file exported (a chain)."""

    TOPIC = "scheduler:Retention"

    class Created(SchedulerAggregate.Created):
        TOPIC = "scheduler:Retention.Created"

        def apply(self, aggregate: Retention) -> None:
            aggregate.cutoff = None
            aggregate.archived_before = None
            aggregate.horizon = 0
            aggregate.files = 0
            aggregate.last_sha256 = ""

    class Applied(SchedulerAggregate.Event):
        """Runs finished before `cutoff` leave the read tables (the projections apply it)."""

        TOPIC = "scheduler:Retention.Applied"
        cutoff: datetime
        window_hours: float

        def apply(self, aggregate: Retention) -> None:
            aggregate.cutoff = self.cutoff

    class ArchiveExported(SchedulerAggregate.Event):
        """One archive file: the closed runs' events below `horizon`, hashed and chained."""

        TOPIC = "scheduler:Retention.ArchiveExported"
        sequence: int
        file: str
        horizon: int  # every archived event is below this log position
        cutoff: datetime  # the runs archived finished before this moment
        events: int
        aggregates: int
        first_position: int
        last_position: int
        sha256: str  # of the manifest, which holds the content's hash and the previous one
        previous_sha256: str

        def apply(self, aggregate: Retention) -> None:
            aggregate.horizon = self.horizon
            aggregate.archived_before = self.cutoff
            aggregate.files = self.sequence
            aggregate.last_sha256 = self.sha256

    if TYPE_CHECKING:  # annotations only: the aggregate is not a dataclass
        cutoff: datetime | None
        archived_before: datetime | None
        horizon: int
        files: int
        last_sha256: str

    @classmethod
    def create(cls, ctx: CommandContext) -> Retention:
        """The store's one retention stream (a second create collides on the id)."""
        return cls._create_with(cls.Created, RETENTION_ID, ctx)

    def apply_window(self, cutoff: datetime, window_hours: float, ctx: CommandContext) -> None:
        """Decide that runs finished before `cutoff` leave the read tables."""
        if self.cutoff is None or cutoff > self.cutoff:
            self._record(self.Applied, ctx, cutoff=cutoff, window_hours=window_hours)

    def record_export(self, manifest: dict[str, object], ctx: CommandContext) -> None:
        """Record one archive file written (its manifest as `archive_files` wrote it)."""
        self._record(
            self.ArchiveExported,
            ctx,
            sequence=int(str(manifest["sequence"])),
            file=str(manifest["file"]),
            horizon=int(str(manifest["horizon"])),
            cutoff=datetime.fromisoformat(str(manifest["cutoff"])),
            events=int(str(manifest["events"])),
            aggregates=int(str(manifest["aggregates"])),
            first_position=int(str(manifest["first_position"])),
            last_position=int(str(manifest["last_position"])),
            sha256=str(manifest["sha256"]),
            previous_sha256=str(manifest["previous_sha256"]),
        )

    @staticmethod
    def id_for() -> UUID:
        """The retention stream's id."""
        return RETENTION_ID
