"""Which aggregates are closed, and their events below a log position written to an archive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from application.archive.files import Manifest, iso, write_archive
from application.audit import (
    BATCH_SIZE,
    ChainLink,
    ChainStore,
    StoredEventLog,
    read_events,
    read_links,
)
from domain.task_run import RUN_ENDINGS

RUN_TOPIC_PREFIX = "scheduler:TaskRun."
ENDING_TOPICS = frozenset(event.TOPIC for event in RUN_ENDINGS)


class ArchiveError(RuntimeError):
    """An export that cannot be done as asked; the message says why."""


class ArchiveExporter:
    """Finds runs closed before a cutoff with every event below a horizon, and archives them."""

    def __init__(
        self,
        log: StoredEventLog,
        chain: ChainStore,
        decode: Callable[[Notification], Any],
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._log = log
        self._chain = chain
        self._decode = decode  # only the run-ending events are decoded (for their time)
        self._batch_size = batch_size

    def closed_runs(self, horizon: int, cutoff: datetime) -> set[UUID]:
        """Runs that ended before `cutoff`, with events below `horizon` and none from it on."""
        ended: set[UUID] = set()
        for row in read_events(self._log, 0, horizon - 1, self._batch_size):
            if row.topic in ENDING_TOPICS and _happened_before(self._decode(row), cutoff):
                ended.add(_uuid(row.originator_id))
        # A run with an event at or after the horizon (a late report) is not closed here.
        for row in read_events(self._log, horizon - 1, None, self._batch_size):
            if row.topic.startswith(RUN_TOPIC_PREFIX):
                ended.discard(row.originator_id)
        return ended

    def export(
        self,
        directory: Path,
        horizon: int,
        cutoff: datetime,
        exported_at: datetime,
        previous: Manifest | None,
    ) -> tuple[Manifest | None, set[UUID]]:
        """Write the closed runs' events to the next archive file (None: nothing to archive).

        Raises:
            ArchiveError: an event to archive is not in the audit chain yet.
        """
        closed = self.closed_runs(horizon, cutoff)
        if not closed:
            return None, closed
        header = {"horizon": horizon, "cutoff": iso(cutoff), "exported_at": iso(exported_at)}
        manifest = write_archive(directory, self._chained(horizon, closed), header, previous)
        return manifest, closed

    def _chained(self, horizon: int, ids: set[UUID]) -> Iterator[tuple[Notification, ChainLink]]:
        links = read_links(self._chain, 0, horizon - 1, self._batch_size)
        link = next(links, None)
        for row in read_events(self._log, 0, horizon - 1, self._batch_size):
            if row.originator_id not in ids:
                continue
            while link is not None and link.position < row.id:
                link = next(links, None)
            if link is None or link.position != row.id:
                raise ArchiveError(
                    f"position {row.id} is not in the audit chain: run `scheduler audit verify`"
                )
            yield row, link


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _happened_before(event: Any, cutoff: datetime) -> bool:
    moment = getattr(event, "timestamp", None)
    return isinstance(moment, datetime) and moment < cutoff
