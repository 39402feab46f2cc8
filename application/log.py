"""The log: reading, decoding and following stored events; the only door to the recorder.

Everything else (projections, the CLI, the API, the audit chain) reads the log through these
methods, never through the library's `recorder`, `mapper` or `events` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, Repository
from eventsourcing.persistence import Notification, Recording, StoredEvent

from application.audit import StoredEventLog
from application.followed_loads import FollowedRepository
from application.quarantine import UndecodableEvent, describe
from application.task_numbers import CREATED_TOPIC

NEAR_POSITIONS = 32  # positions this close are read in one range query


class EventLog(Application[UUID]):
    """The application's log read as positions and events; an event never stops a read."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env=env)
        self._saved_listeners: list[Callable[[int], None]] = []
        self._recorded_listeners: list[Callable[[list[Recording[UUID]]], None]] = []

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, whose loads a log follower may serve from memory."""
        return FollowedRepository.wrapping(super().construct_repository())

    def on_saved(self, listener: Callable[[int], None]) -> None:
        """Call `listener(position)` after every save in this process (in-process wake-up)."""
        self._saved_listeners.append(listener)

    def on_recorded(self, listener: Callable[[list[Recording[UUID]]], None]) -> None:
        """Call `listener(recordings)` after every save in this process, in the saving thread."""
        self._recorded_listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        for recorded in self._recorded_listeners:
            recorded(recordings)
        if recordings:
            position = recordings[-1].notification.id
            for listener in self._saved_listeners:
                listener(position)

    def head_position(self) -> int:
        """The position of the newest event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    @property
    def stored_log(self) -> StoredEventLog:
        """The stored rows by position, for readers of the rows themselves (audit, scans)."""
        return self.recorder

    def notifications(
        self, after: int, limit: int, topics: Sequence[str] = (), up_to: int | None = None
    ) -> list[Notification]:
        """Up to `limit` stored rows after a log position (at most at `up_to`), undecoded."""
        return list(
            self.recorder.select_notifications(
                start=after, limit=limit, stop=up_to, topics=topics, inclusive_of_start=False
            )
        )

    def read_log(self, after: int, limit: int, topics: Sequence[str] = ()) -> list[tuple[int, Any]]:
        """Up to `limit` events after a log position, with their positions.

        An event that cannot be decoded (unknown topic, broken state) comes back as an
        UndecodableEvent for the consumers to quarantine: one bad row never stops a read.
        """
        return [(n.id, self.decode(n)) for n in self.notifications(after, limit, topics)]

    def read_log_except(
        self, after: int, limit: int, skipped: tuple[str, ...]
    ) -> tuple[list[tuple[int, Any]], int, int]:
        """`read_log` leaving out, undecoded, the rows whose topic starts with a `skipped` prefix.

        For a consumer that ignores whole aggregates: decoding is most of a read's cost.
        Returns the events, the position of the last row read (`after` if none) and how many
        rows were read.
        """
        rows = self.notifications(after, limit)
        events = [(n.id, self.decode(n)) for n in rows if not n.topic.startswith(skipped)]
        return events, (rows[-1].id if rows else after), len(rows)

    def to_domain_event(self, stored: StoredEvent) -> Any:
        """A stored event as its domain event; raises what decoding it raises."""
        return self.mapper.to_domain_event(stored)

    def decode(self, stored: StoredEvent) -> Any:
        """A stored event as its domain event, or an UndecodableEvent saying why not."""
        try:
            return self.to_domain_event(stored)
        except Exception as error:  # any stored row must be readable by every consumer
            return UndecodableEvent(
                originator_id=stored.originator_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
                error=describe(error),
            )

    def events_at(self, positions: Sequence[int]) -> list[tuple[int, Any]]:
        """The events at these log positions, oldest first, decoded as far as possible.

        Near positions are read in one range (an index hit list is often clustered).
        """
        wanted = sorted(set(positions))
        found: list[tuple[int, Any]] = []
        start = 0
        while start < len(wanted):
            end = start
            while end + 1 < len(wanted) and wanted[end + 1] - wanted[end] <= NEAR_POSITIONS:
                end += 1
            first, last = wanted[start], wanted[end]
            keep = set(wanted[start : end + 1])
            rows = self.notifications(first - 1, last - first + 1, up_to=last)
            found += [(row.id, self.decode(row)) for row in rows if row.id in keep]
            start = end + 1
        return found

    def created_task_rows(self, after: int, limit: int) -> list[tuple[int, Any]]:
        """(position, task id) of the `Task.Created` rows after a position, undecoded."""
        return [(n.id, n.originator_id) for n in self.notifications(after, limit, [CREATED_TOPIC])]

    def aggregate_events(self, aggregate_id: UUID) -> list[Any]:
        """Every stored event of one aggregate, oldest first, decoded as far as possible."""
        return [self.decode(stored) for stored in self.recorder.select_events(aggregate_id)]

    def _exists(self, aggregate_id: UUID) -> bool:
        # The stored row is enough: an event that cannot be decoded still exists.
        return bool(self.recorder.select_events(aggregate_id, lte=1, limit=1))
