"""A projection turns events into rows of its own read tables, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import orjson
from eventsourcing.utils import get_topic, resolve_topic

from application.quarantine import UndecodableEvent, UndecodableEventError
from projections.ports import Tx

Handler = Callable[[Any, Any, int, Tx], None]


class Projection:
    """Base class: subclasses register one handler per event class they care about."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    # True: a batch's events go to `process_many` together (outside careful mode).
    batched: ClassVar[bool] = False
    _handlers: ClassVar[dict[type, list[Handler]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass keeps its parents' handlers (and may add to them).
        cls._handlers = {k: list(v) for k, v in getattr(cls, "_handlers", {}).items()}
        for attribute in vars(cls).values():
            for event_class in getattr(attribute, "_handles", ()):
                # Several handlers may share an event; they run in the order they are defined.
                cls._handlers.setdefault(event_class, []).append(attribute)

    @classmethod
    def topics(cls) -> frozenset[str]:
        """The stored topics of the events it handles: what read-your-writes waits on it for."""
        return frozenset(get_topic(event_class) for event_class in cls._handlers)

    def handled_events(self) -> dict[type, int]:
        """Each event class this projection reacts to, with how many handlers it has."""
        return {event_class: len(handlers) for event_class, handlers in self._handlers.items()}

    @property
    def consumer(self) -> str:
        """Its name in the quarantine."""
        return f"projection:{self.name}"

    def handles(self, event: Any) -> bool:
        """Whether this projection reacts to the event's class."""
        return type(event) in self._handlers

    def concerns(self, event: Any) -> bool:
        """Whether the event is this projection's business, decodable or not.

        An event whose topic names no known class might be one it handles: it concerns
        every projection, which quarantines its aggregate rather than guess.
        """
        if isinstance(event, UndecodableEvent):
            try:
                return resolve_topic(event.topic) in self._handlers
            except Exception:  # an unknown topic
                return True
        return type(event) in self._handlers

    def process(self, event: Any, position: int, tx: Tx) -> None:
        """Apply one event; events this projection does not handle are skipped.

        Raises:
            UndecodableEventError: the event could not be decoded, and it concerns this one.
        """
        if isinstance(event, UndecodableEvent):
            if self.concerns(event):
                raise UndecodableEventError(event.error)
            return
        for handler in self._handlers.get(type(event), ()):
            handler(self, event, position, tx)

    def process_many(self, events: Sequence[tuple[int, Any]], tx: Tx) -> None:
        """Apply a batch's events in order, those the guard let through (default: one by one)."""
        for position, event in events:
            self.process(event, position, tx)

    def on_quarantined(self, event: Any, position: int, tx: Tx) -> None:
        """Do the little that must happen even for an event that failed (default: nothing).

        Runs after the failed event was rolled back; it must not fail itself.
        """


def handles(*event_classes: type) -> Callable[[Handler], Handler]:
    """Mark a projection method as the handler of these event classes."""

    def mark(method: Handler) -> Handler:
        # A function takes any attribute; the Callable type declares none.
        method._handles = event_classes  # type: ignore[attr-defined]
        return method

    return mark


def to_json(value: Any) -> str:
    """Serialise a JSON column value."""
    return orjson.dumps(value).decode()


def from_json(text: str | None) -> Any:
    """Parse a JSON column value."""
    return orjson.loads(text) if text else None
