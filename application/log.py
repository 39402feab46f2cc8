"""The log: reading, decoding and following stored events; the only door to the recorder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Recording, StoredEvent

from application.quarantine import UndecodableEvent, describe
from application.task_numbers import CREATED_TOPIC


class EventLog(Application[UUID]):
    """The application's log read as positions and events; an event never stops a read."""

    _saved_listeners: list[Callable[[int], None]]

    def on_saved(self, listener: Callable[[int], None]) -> None:
        """Call `listener(position)` after every save in this process (in-process wake-up)."""
        self._saved_listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            position = recordings[-1].notification.id
            for listener in self._saved_listeners:
                listener(position)

    def head_position(self) -> int:
        """The position of the newest event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def read_log(self, after: int, limit: int, topics: Sequence[str] = ()) -> list[tuple[int, Any]]:
        """Up to `limit` events after a log position, with their positions.

        An event that cannot be decoded (unknown topic, broken state) comes back as an
        UndecodableEvent for the consumers to quarantine: one bad row never stops a read.
        """
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )
        return [(n.id, self.decode(n)) for n in notifications]

    def decode(self, stored: StoredEvent) -> Any:
        """A stored event as its domain event, or an UndecodableEvent saying why not."""
        try:
            return self.mapper.to_domain_event(stored)
        except Exception as error:  # any stored row must be readable by every consumer
            return UndecodableEvent(
                originator_id=stored.originator_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
                error=describe(error),
            )

    def _created_task_rows(self, after: int, limit: int) -> list[tuple[int, Any]]:
        notifications = self.recorder.select_notifications(
            start=after, limit=limit, topics=[CREATED_TOPIC], inclusive_of_start=False
        )
        return [(n.id, n.originator_id) for n in notifications]

    def aggregate_events(self, aggregate_id: UUID) -> list[Any]:
        """Every stored event of one aggregate, oldest first, decoded as far as possible."""
        return [self.decode(stored) for stored in self.recorder.select_events(aggregate_id)]

    def _exists(self, aggregate_id: UUID) -> bool:
        # The stored row is enough: an event that cannot be decoded still exists.
        return bool(self.recorder.select_events(aggregate_id, lte=1, limit=1))
