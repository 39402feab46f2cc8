"""Applies events to a projection inside one transaction; an event that fails holds its aggregate.

The rule for every projection (docs/operations.md): the failed event is rolled back to a
savepoint, its aggregate is recorded in the quarantine and its later events are held (not
applied) until an operator retries or releases it. Every other aggregate is applied as usual.
Holds and counts reach the ledger only in `finish`, so a batch that is redone counts once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from application.quarantine import (
    HELD,
    RELEASE,
    RELEASED,
    RETRY,
    QuarantineEntry,
    QuarantineLedger,
    aggregate_type_of,
    describe,
    event_topic,
)
from projections.base import Projection
from projections.ports import Tx

AggregateLog = Callable[[Any], Sequence[tuple[int, Any]]]


@dataclass
class _Hold:
    position: int
    topic: str
    error: str
    count: int
    last_position: int
    new: bool  # opened in this batch (else it was open before)


class ProjectionGuard:
    """One projection, one transaction: applies events, holding aggregates that fail."""

    def __init__(
        self,
        projection: Projection,
        tx: Tx,
        ledger: QuarantineLedger,
        now: Callable[[], datetime],
        *,
        careful: bool,
        after: int = 0,
        entries: Sequence[QuarantineEntry] | None = None,
        is_outage: Callable[[BaseException], bool] = lambda _error: False,
    ) -> None:
        self.projection = projection
        self._tx = tx
        self._ledger = ledger
        self._now = now
        self.careful = careful  # a savepoint per event: slower, isolates each failure
        # A database that fails is not a reason to quarantine anything: the batch fails.
        self._is_outage = is_outage
        known = (
            entries
            if entries is not None
            else ledger.entries(projection.consumer, statuses=(HELD, RELEASED))
        )
        self.holds: dict[str, _Hold] = {
            e.aggregate_id: _Hold(
                e.position, e.topic, e.error, e.held_count, e.last_position or e.position, False
            )
            for e in known
            if e.status == HELD
        }
        # aggregate -> (first, last) log positions of the events an operator gave up on
        self.released: dict[str, tuple[int, int]] = {
            e.aggregate_id: (e.position, e.released_through)
            for e in known
            if e.status == RELEASED
            and e.released_through is not None
            and e.released_through > after
        }
        self._changed: set[str] = set()
        # A projection that writes a batch cheaper than its events one by one gets them at
        # `flush`; a careful guard applies each on its own, to isolate the one that fails.
        self._pending: list[tuple[int, Any]] | None = (
            [] if projection.batched and not careful else None
        )

    @property
    def failed(self) -> bool:
        """Whether an event of this batch was quarantined."""
        return any(hold.new for hold in self.holds.values())

    def process(self, event: Any, position: int) -> None:
        """Apply one event, hold it, or skip it (released, or not this projection's business).

        Raises:
            Exception: only outside careful mode, so the caller can redo the batch carefully.
        """
        if not self.projection.concerns(event):
            return
        key = str(event.originator_id)
        if key in self.released and _within(position, self.released[key]):
            return  # an operator gave up on this event
        hold = self.holds.get(key)
        if hold is not None:
            hold.count += 1
            hold.last_position = position
            self._changed.add(key)
            return
        if self._pending is not None:
            self._pending.append((position, event))
            return
        if not self.careful:
            self.projection.process(event, position, self._tx)
            return
        try:
            with self._tx.savepoint():
                self.projection.process(event, position, self._tx)
        except Exception as error:  # isolate this aggregate; the batch goes on
            if self._is_outage(error):
                raise
            self._hold(key, position, event, describe(error))

    def flush(self) -> None:
        """Apply the events a batched projection was given (none for the others).

        Raises:
            Exception: what the projection raised; the caller redoes the batch carefully.
        """
        if self._pending:
            pending, self._pending = self._pending, []
            self.projection.process_many(pending, self._tx)

    def apply_again(self, events: Sequence[tuple[int, Any]]) -> tuple[int, str] | None:
        """Re-apply held events in order (a retry); the first failure, or None if all applied."""
        for position, event in events:
            try:
                with self._tx.savepoint():
                    self.projection.process(event, position, self._tx)
            except Exception as error:
                if self._is_outage(error):
                    raise
                return position, describe(error)
        return None

    def finish(self) -> None:
        """Write the batch's new holds and held counts to the ledger (same transaction)."""
        for key, hold in self.holds.items():
            if hold.new:
                self._ledger.record(
                    self.projection.consumer,
                    key,
                    aggregate_type_of(hold.topic),
                    hold.position,
                    hold.topic,
                    hold.error,
                    self._now(),
                )
            if hold.new or key in self._changed:
                self._ledger.note_held(
                    self.projection.consumer, key, hold.last_position, hold.count
                )

    def handle_requests(
        self,
        requests: Sequence[QuarantineEntry],
        aggregate_log: AggregateLog | None,
        position: int,
    ) -> int:
        """Act on operator requests for this projection at `position`; returns entries closed."""
        guard, ledger, consumer, now = self, self._ledger, self.projection.consumer, self._now
        closed = 0
        for entry in requests:
            key = entry.aggregate_id
            hold = guard.holds.get(key)
            if hold is None:
                continue
            if entry.request == RELEASE:
                through = max(entry.requested_through or position, position)
                ledger.release(consumer, key, through, now())
                del guard.holds[key]
                guard.released[key] = (hold.position, through)
                closed += 1
            elif entry.request == RETRY:
                if aggregate_log is None:
                    continue
                held = [
                    (p, e)
                    for p, e in aggregate_log(_as_id(key))
                    if hold.position <= p <= position and guard.projection.concerns(e)
                ]
                failure = guard.apply_again(held)
                del guard.holds[key]
                if failure is None:
                    ledger.resolve(consumer, key, now(), "retried: every held event applied")
                    closed += 1
                    continue
                failed_at, error = failure
                # Applied up to the failure: the entry now starts at the event that still fails.
                ledger.resolve(consumer, key, now(), "retried in part")
                topic = next((event_topic(e) for p, e in held if p == failed_at), entry.topic)
                ledger.record(
                    consumer, key, aggregate_type_of(topic), failed_at, topic, error, now()
                )
                remaining = [p for p, _ in held if p >= failed_at]
                ledger.note_held(consumer, key, remaining[-1], len(remaining))
                guard.holds[key] = _Hold(
                    failed_at, topic, error, len(remaining), remaining[-1], False
                )
        return closed

    def _hold(self, key: str, position: int, event: Any, error: str) -> None:
        self.holds[key] = _Hold(position, event_topic(event), error, 1, position, True)
        try:
            with self._tx.savepoint():
                self.projection.on_quarantined(event, position, self._tx)
        except Exception:  # the hook is best effort; the entry says what failed
            pass


def _as_id(key: str) -> Any:
    try:
        return UUID(key)
    except ValueError:
        return key


def _within(position: int, span: tuple[int, int]) -> bool:
    return span[0] <= position <= span[1]
