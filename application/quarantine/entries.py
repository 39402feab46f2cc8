"""What a consumer records about an event it cannot handle: statuses, entries, their words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

HELD = "held"  # later events of the aggregate are not applied
RELEASED = "released"  # an operator gave up on the events up to released_through
RESOLVED = "resolved"  # a retry (or a later event) applied everything: history only
RETRY = "retry"
RELEASE = "release"
MAX_ERROR_CHARS = 2_000


@dataclass(frozen=True)
class UndecodableEvent:
    """A stored event that could not be turned into a domain event (topic or state broken)."""

    originator_id: Any
    originator_version: int
    topic: str
    error: str
    timestamp: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def aggregate_type(self) -> str:
        """The aggregate class its topic names, as far as the topic can be read."""
        return aggregate_type_of(self.topic)


class UndecodableEventError(Exception):
    """A stored event could not be decoded into a domain event."""


def aggregate_type_of(topic: str) -> str:
    """'scheduler:TaskRun.Requested' -> 'TaskRun' (the aggregate an event topic belongs to)."""
    name = topic.split(":", 1)[-1]
    return name.split(".", 1)[0] or name


def event_topic(event: Any) -> str:
    """The topic of a decoded or undecodable event."""
    if isinstance(event, UndecodableEvent):
        return event.topic
    topic = getattr(type(event), "TOPIC", None)
    if topic:
        return str(topic)
    return f"{type(event).__module__}:{type(event).__qualname__}"


def describe(error: BaseException) -> str:
    """An error as one bounded line: type and message."""
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


@dataclass(frozen=True)
class QuarantineEntry:
    """One aggregate a consumer could not handle, and what an operator asked for."""

    consumer: str
    aggregate_id: str
    aggregate_type: str
    position: int  # the first event not applied
    topic: str
    error: str
    first_failed_at: datetime
    last_failed_at: datetime
    status: str = HELD
    request: str | None = None
    requested_through: int | None = None  # with a release: the log head when it was asked
    released_through: int | None = None
    last_position: int | None = None  # the newest event of the aggregate seen while held
    held_count: int = 1
    failures: int = 1
    resolved_at: datetime | None = None
    note: str | None = None

    def as_record(self) -> dict[str, Any]:
        """JSON-ready fields, for the API and the CLI."""
        record = {k: v for k, v in self.__dict__.items()}
        for key in ("first_failed_at", "last_failed_at", "resolved_at"):
            value = record[key]
            record[key] = value.isoformat() if value is not None else None
        return record
