"""The SQLite event store as archiving sees it: files are exported, no row ever leaves."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from adapters.sql_store import consumer_floor
from application.archive.export import ArchiveError
from application.archive.ports import Removal

if TYPE_CHECKING:
    from adapters.sqlite.database import SqliteDatabase


class SqliteLiveStore:
    """stored_events keeps every row: SQLite has no partitions to detach (docs/retention.md)."""

    removes = False

    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def horizon_at_or_below(self, position: int) -> int:
        """Any position: nothing is cut."""
        return position

    def consumer_floor(self) -> int:
        """The lowest position of the projections and the running dispatchers."""
        return consumer_floor(self._database)

    def remove_archived(self, horizon: int, ids: set[UUID], keep: bool) -> Removal:
        """Refused.

        Raises:
            ArchiveError: always.
        """
        raise ArchiveError("SQLite keeps archived events in the live store (docs/retention.md)")

    def keep_ahead(self) -> list[str]:
        """Nothing: one table."""
        return []

    def live_bytes(self) -> int | None:
        """Unknown: the events share the file with everything else."""
        return None
