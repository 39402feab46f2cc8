"""A consumer that isolates an aggregate whose event fails, and acts on operators' requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from application.quarantine.entries import (
    HELD,
    RELEASE,
    RELEASED,
    RESOLVED,
    RETRY,
    UndecodableEvent,
    UndecodableEventError,
    aggregate_type_of,
    describe,
    event_topic,
)
from application.quarantine.ledger import QuarantineLedger

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
