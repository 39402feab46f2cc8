"""Quarantine: an event a consumer cannot handle isolates its aggregate, never the consumer.

Every consumer of the log (projections, the dispatcher's books, rebuilds, time travel) applies
events one aggregate at a time. When an event of aggregate A fails in consumer C, C records an
entry (C, A) and holds A's later events; every other aggregate goes on. An operator asks for a
retry (re-apply the held events once the cause is fixed) or a release (give up on the events up
to a log position, then apply later ones normally). docs/operations.md has each consumer's rule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

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


class QuarantineLedger(Protocol):
    """Where quarantine entries are kept, shared by every process of a deployment."""

    def record(
        self,
        consumer: str,
        aggregate_id: str,
        aggregate_type: str,
        position: int,
        topic: str,
        error: str,
        at: datetime,
    ) -> None:
        """Open (or refresh) an entry: the aggregate is held from `position`."""
        ...

    def note_held(
        self, consumer: str, aggregate_id: str, last_position: int, held_count: int
    ) -> None:
        """Say how many events are held so far and the newest one."""
        ...

    def entries(
        self,
        consumer: str | None = None,
        statuses: Sequence[str] | None = (HELD,),
        aggregate_ids: Sequence[str] | None = None,
    ) -> list[QuarantineEntry]:
        """Entries, newest failure first; by default only those still held (None: all)."""
        ...

    def resolve(self, consumer: str, aggregate_id: str, at: datetime, note: str) -> None:
        """Close an entry: everything held was applied."""
        ...

    def release(self, consumer: str, aggregate_id: str, through: int, at: datetime) -> None:
        """Close an entry as released: events up to `through` are given up."""
        ...

    def request(self, aggregate_id: str, action: str, through: int, at: datetime) -> int:
        """Ask every consumer holding the aggregate to retry or release; returns entries."""
        ...


class InMemoryQuarantineLedger:
    """A ledger in a dict, for tests and tools with no database."""

    def __init__(self, entries: Sequence[QuarantineEntry] = ()) -> None:
        self._entries: dict[tuple[str, str], QuarantineEntry] = {
            (e.consumer, e.aggregate_id): e for e in entries
        }
        self._lock = threading.Lock()

    def add(self, entries: Sequence[QuarantineEntry]) -> None:
        """Take entries as they are (what a rebuild's child process found)."""
        with self._lock:
            for entry in entries:
                self._entries[(entry.consumer, entry.aggregate_id)] = entry

    def record(
        self,
        consumer: str,
        aggregate_id: str,
        aggregate_type: str,
        position: int,
        topic: str,
        error: str,
        at: datetime,
    ) -> None:
        """Open or refresh an entry."""
        with self._lock:
            key = (consumer, aggregate_id)
            old = self._entries.get(key)
            if old is not None and old.status == HELD:
                self._entries[key] = replace(
                    old,
                    position=min(old.position, position),
                    error=error,
                    last_failed_at=at,
                    failures=old.failures + 1,
                    request=None,
                )
                return
            self._entries[key] = QuarantineEntry(
                consumer=consumer,
                aggregate_id=aggregate_id,
                aggregate_type=aggregate_type,
                position=position,
                topic=topic,
                error=error,
                first_failed_at=at,
                last_failed_at=at,
                last_position=position,
                released_through=old.released_through if old is not None else None,
            )

    def note_held(
        self, consumer: str, aggregate_id: str, last_position: int, held_count: int
    ) -> None:
        """Update the held counters."""
        with self._lock:
            old = self._entries.get((consumer, aggregate_id))
            if old is not None and old.status == HELD:
                self._entries[(consumer, aggregate_id)] = replace(
                    old,
                    last_position=max(old.last_position or 0, last_position),
                    held_count=max(old.held_count, held_count),
                )

    def entries(
        self,
        consumer: str | None = None,
        statuses: Sequence[str] | None = (HELD,),
        aggregate_ids: Sequence[str] | None = None,
    ) -> list[QuarantineEntry]:
        """Entries, newest failure first."""
        with self._lock:
            chosen = [
                e
                for e in self._entries.values()
                if (consumer is None or e.consumer == consumer)
                and (statuses is None or e.status in statuses)
                and (aggregate_ids is None or e.aggregate_id in aggregate_ids)
            ]
        return sorted(chosen, key=lambda e: e.last_failed_at, reverse=True)

    def resolve(self, consumer: str, aggregate_id: str, at: datetime, note: str) -> None:
        """Close as resolved."""
        with self._lock:
            old = self._entries.get((consumer, aggregate_id))
            if old is not None:
                self._entries[(consumer, aggregate_id)] = replace(
                    old, status=RESOLVED, request=None, resolved_at=at, note=note
                )

    def release(self, consumer: str, aggregate_id: str, through: int, at: datetime) -> None:
        """Close as released."""
        with self._lock:
            old = self._entries.get((consumer, aggregate_id))
            if old is not None:
                self._entries[(consumer, aggregate_id)] = replace(
                    old,
                    status=RELEASED,
                    request=None,
                    released_through=max(through, old.released_through or 0),
                    resolved_at=at,
                    note=f"released through position {through}",
                )

    def request(self, aggregate_id: str, action: str, through: int, at: datetime) -> int:
        """Flag every held entry of the aggregate."""
        with self._lock:
            keys = [
                k for k, e in self._entries.items() if k[1] == aggregate_id and e.status == HELD
            ]
            for key in keys:
                self._entries[key] = replace(
                    self._entries[key], request=action, requested_through=through
                )
        return len(keys)


AggregateLog = Callable[[Any], Sequence[tuple[int, Any]]]


@dataclass
class _Held:
    position: int
    count: int
    last_position: int


class GuardedConsumer:
    """Applies log events to one in-memory consumer; a failure holds its aggregate only.

    Held events are not kept in memory: a retry reads the aggregate's events back from the
    log (`aggregate_log`), so a long-held aggregate costs nothing but its entry.
    """

    def __init__(
        self,
        consumer: str,
        apply: Callable[[int, Any], None],
        ledger: QuarantineLedger,
        now: Callable[[], datetime],
        aggregate_log: AggregateLog | None = None,
        concerns: Callable[[Any], bool] = lambda _event: True,
    ) -> None:
        self.consumer = consumer
        self._apply = apply
        self._ledger = ledger
        self._now = now
        self._aggregate_log = aggregate_log
        self._concerns = concerns
        self.held: dict[str, _Held] = {}
        # aggregate -> (first, last) log positions of the events an operator gave up on
        self.released: dict[str, tuple[int, int]] = {}
        self._recorded: dict[str, int] = {}  # entries already open in the ledger at start
        self._dirty: set[str] = set()
        self.position = 0  # the newest log position this consumer has seen

    def load(self) -> None:
        """Learn releases and open entries from the ledger (before the start-up replay)."""
        for entry in self._ledger.entries(self.consumer, statuses=(HELD, RELEASED)):
            if entry.status == RELEASED and entry.released_through is not None:
                self.released[entry.aggregate_id] = (entry.position, entry.released_through)
            elif entry.status == HELD:
                self._recorded[entry.aggregate_id] = entry.position

    def apply(self, position: int, event: Any) -> None:
        """Apply one event, or hold it when its aggregate is held."""
        self.position = max(self.position, position)
        if not self._concerns(event):
            return
        key = str(event.originator_id)
        span = self.released.get(key)
        if span is not None and span[0] <= position <= span[1]:
            return  # an operator gave up on this event (docs/operations.md)
        held = self.held.get(key)
        if held is not None:
            held.count += 1
            held.last_position = position
            self._dirty.add(key)
            return
        try:
            self._apply_one(position, event)
        except Exception as error:  # any failure isolates this aggregate, never the consumer
            self.hold(key, position, event_topic(event), describe(error))
            return
        if self._recorded.get(key) == position:
            # Held before a restart, applied now (new code or data): the entry is done.
            del self._recorded[key]
            self._ledger.resolve(self.consumer, key, self._now(), "applied after a restart")

    def _apply_one(self, position: int, event: Any) -> None:
        if isinstance(event, UndecodableEvent):
            # It cannot be known whether the event mattered here: hold, do not guess.
            raise UndecodableEventError(event.error)
        self._apply(position, event)

    def hold(self, key: str, position: int, topic: str, error: str) -> None:
        """Hold an aggregate from `position` on, recording why (also for decision failures)."""
        if key in self.held:
            return
        self.held[key] = _Held(position, 1, position)
        if self._recorded.get(key) == position:
            return  # the same failure as before a restart: the entry is already open
        self._ledger.record(
            self.consumer, key, aggregate_type_of(topic), position, topic, error, self._now()
        )

    def flush(self) -> None:
        """Write the held counters that changed since the last flush."""
        for key in self._dirty:
            held = self.held.get(key)
            if held is not None:
                self._ledger.note_held(self.consumer, key, held.last_position, held.count)
        self._dirty.clear()

    def handle_requests(self) -> int:
        """Act on operator requests and on other instances' outcomes; returns actions taken."""
        if not self.held:
            return 0
        actions = 0
        for entry in self._ledger.entries(self.consumer, None, list(self.held)):
            if entry.request == RELEASE or entry.status == RELEASED:
                through = entry.requested_through or entry.released_through or self.position
                self._release(entry.aggregate_id, through)
                actions += 1
            elif entry.request == RETRY or entry.status == RESOLVED:
                self.retry(entry.aggregate_id)
                actions += 1
        return actions

    def retry(self, key: str) -> bool:
        """Re-apply an aggregate's held events from the log; True when all applied."""
        if self._aggregate_log is None:
            return key not in self.held  # nowhere to read the held events back from
        held = self.held.pop(key, None)
        if held is None:
            return True
        events = [
            (p, e)
            for p, e in self._aggregate_log(_as_id(key))
            if held.position <= p <= self.position and self._concerns(e)
        ]
        for index, (position, event) in enumerate(events):
            try:
                self._apply_one(position, event)
            except Exception as error:
                self.held[key] = _Held(position, len(events) - index, events[-1][0])
                self._ledger.record(
                    self.consumer,
                    key,
                    aggregate_type_of(event_topic(event)),
                    position,
                    event_topic(event),
                    describe(error),
                    self._now(),
                )
                return False
        self._ledger.resolve(self.consumer, key, self._now(), "retried: every held event applied")
        return True

    def _release(self, key: str, through: int) -> None:
        held = self.held.pop(key)
        self.released[key] = (held.position, through)
        self._ledger.release(self.consumer, key, through, self._now())
        if self._aggregate_log is None:
            return
        # Events of the aggregate after the release position are applied as usual.
        for position, event in self._aggregate_log(_as_id(key)):
            if through < position <= self.position and position >= held.position:
                self.apply(position, event)


def _as_id(key: str) -> Any:
    try:
        return UUID(key)
    except ValueError:
        return key
