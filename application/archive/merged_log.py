"""The log as it was: the live rows merged, by position, with the archived ones."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from pathlib import Path

from eventsourcing.persistence import Notification

from application.archive.files import Manifest, notification_of, read_manifests, read_records
from application.audit import StoredEventLog


class ArchivedLog:
    """A StoredEventLog over the live store and the archive files, for whole-log readers.

    Archived positions are read as one merged, forward-only stream of every file (each is in
    position order): sequential readers (the audit check) pay one pass over the archive.
    """

    def __init__(self, live: StoredEventLog, directory: Path) -> None:
        self._live = live
        self._manifests: list[Manifest] = read_manifests(directory)
        self._stream: Iterator[Notification] = iter(())
        self._back: list[Notification] = []  # read from the stream but not answered yet
        self._cursor = 0  # every position below this was answered (or skipped)
        self._restart()

    @property
    def archived(self) -> bool:
        """Whether there are archive files at all."""
        return bool(self._manifests)

    def max_notification_id(self) -> int | None:
        """The live head (archived positions are all below it)."""
        return self._live.max_notification_id()

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Up to `limit` rows from either source, in position order."""
        first = (start or 0) + (0 if inclusive_of_start else 1)
        live = list(
            self._live.select_notifications(first, limit, stop, topics, inclusive_of_start=True)
        )
        # The live batch bounds how far archived rows can belong to this answer.
        bound = live[-1].id if len(live) == limit else stop
        archived = self._archived(first, bound, limit, topics)
        merged = sorted([*live, *archived], key=lambda n: n.id)
        answered, rest = merged[:limit], merged[limit:]
        archived_ids = {n.id for n in archived}
        self._back = [n for n in rest if n.id in archived_ids] + self._back
        if answered:
            self._cursor = answered[-1].id + 1
        return answered

    def _archived(
        self, first: int, bound: int | None, limit: int, topics: Sequence[str]
    ) -> list[Notification]:
        if first < self._cursor:
            self._restart()
        found: list[Notification] = []
        while len(found) < limit:
            row = self._back.pop(0) if self._back else next(self._stream, None)
            if row is None:
                break
            if bound is not None and row.id > bound:
                self._back.insert(0, row)  # for the next batch
                break
            if row.id >= first and (not topics or row.topic in topics):
                found.append(row)
        return found

    def _restart(self) -> None:
        streams = [(notification_of(r) for r in read_records(m)) for m in self._manifests]
        self._stream = heapq.merge(*streams, key=lambda n: n.id)
        self._back = []
        self._cursor = 0
