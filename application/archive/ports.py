"""What archiving needs of the store beyond the log: horizons, removal, the consumers' floor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Removal:
    """What one removal of archived rows did."""

    horizon: int
    removed: int  # archived rows that left the live store
    kept: int  # rows below the horizon that stay (open aggregates)
    partitions: tuple[str, ...]  # detached partitions (dropped, or kept by name)


class LiveStore(Protocol):
    """The live event store as archiving sees it (each dialect's in adapters/)."""

    removes: bool  # whether archived rows can leave it (PostgreSQL partitions; not SQLite)

    def horizon_at_or_below(self, position: int) -> int:
        """The highest position <= `position` that removal can cut at (a partition bound)."""
        ...

    def consumer_floor(self) -> int:
        """The lowest position every log consumer (projections, dispatchers) has passed."""
        ...

    def remove_archived(self, horizon: int, ids: set[UUID], keep: bool) -> Removal:
        """Remove the rows below `horizon` of these aggregates, never updating a row.

        Raises:
            ArchiveError: the store cannot remove them (the message says why).
        """
        ...

    def keep_ahead(self) -> list[str]:
        """Create the ranges new events will need (PostgreSQL); returns what it created."""
        ...

    def live_bytes(self) -> int | None:
        """The event table's size on disk, when the store can say."""
        ...
