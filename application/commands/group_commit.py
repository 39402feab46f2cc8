"""Group commit: the saves that concurrent commands of one process make share one transaction.

A save waits while another is being written; whoever is free next writes every save that
queued meanwhile in one insert (one transaction). Under load (the last write was shared) it
also waits up to `max_delay` for as many saves as that write carried; a lone writer's save
(an idle process, a single thread) is written at once.

When the shared insert conflicts, it is written again in halves, down to each save alone
(`together_or_alone`, the rule `save_batch` follows), so a conflict fails only the command
whose aggregate another writer saved first, and that command sees it as its own save's
IntegrityError, as without group commit. Two saves of one write that give an aggregate the
same version (a race inside the process) are told apart before writing: the later one is
written alone, and only it conflicts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError, StoredEvent

from application.commands.base import together_or_alone

# recorder.insert_events: one transaction; the events' log positions in their order.
Insert = Callable[[list[StoredEvent]], Sequence[int] | None]
MAX_DELAY_SECONDS = 0.002  # bounds what a save may wait for company under load
MAX_SAVES = 100  # saves written together at most
MAX_EVENTS = 5_000  # events written together at most (a bulk trigger brings 1,000)


@dataclass(eq=False)
class _Save:
    events: list[StoredEvent]
    positions: list[int] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    """Writes the saves of concurrent threads together; each thread gets its own outcome."""

    def __init__(
        self,
        insert: Insert,
        *,
        max_delay: float = MAX_DELAY_SECONDS,
        max_saves: int = MAX_SAVES,
        max_events: int = MAX_EVENTS,
    ) -> None:
        self._insert = insert
        self._max_delay = max_delay
        self._max_saves = max_saves
        self._max_events = max_events
        self._lock = threading.Condition()
        self._queue: list[_Save] = []
        self._writing = False
        self._company = False  # the last write carried more than one save: load
        self._last_size = 1
        self.transactions = 0  # inserts attempted, shared or alone (counted for tests, metrics)
        self.saves = 0

    def pending(self) -> int:
        """Saves queued behind the write in progress."""
        with self._lock:
            return len(self._queue)

    def insert(self, events: list[StoredEvent]) -> list[int]:
        """Write the events in one transaction, maybe with other threads' saves; their positions.

        Raises:
            IntegrityError: another writer saved one of these aggregates first.
        """
        save = _Save(events)
        with self._lock:
            self._queue.append(save)
            self._lock.notify_all()  # a leader waiting for company counts it
        while not save.done:
            batch = self._lead_or_wait(save)
            if batch:
                self._write(batch)
        if save.error is not None:
            raise save.error
        return save.positions

    def _lead_or_wait(self, save: _Save) -> list[_Save]:
        """Wait for the current write; then, if still queued, take the queue's head to write."""
        with self._lock:
            while self._writing and not save.done:
                self._lock.wait()
            if save.done:
                return []
            self._writing = True
            # Idle, a save goes in at once; under load it waits a little for company.
            if self._company and self._max_delay > 0:
                # As many saves as the last write carried are likely to come again.
                expected = min(max(self._last_size, 2), self._max_saves)
                self._lock.wait_for(lambda: len(self._queue) >= expected, self._max_delay)
            return self._take()

    def _take(self) -> list[_Save]:
        count, events = 0, 0
        for queued in self._queue[: self._max_saves]:
            if count and events + len(queued.events) > self._max_events:
                break
            count, events = count + 1, events + len(queued.events)
        batch, self._queue = self._queue[:count], self._queue[count:]
        return batch

    def _write(self, batch: list[_Save]) -> None:
        try:
            clear, clashing = _clashes(batch)
            together_or_alone(clear, self._together, self._alone, halving=True)
            for save in clashing:
                self._alone(save)
        except BaseException as error:  # not a conflict (the database is down): all of them
            for save in batch:
                if not save.positions and save.error is None:
                    save.error = error
        finally:
            with self._lock:
                for save in batch:
                    save.done = True
                self._writing = False
                self._company, self._last_size = len(batch) > 1, len(batch)
                self.saves += len(batch)
                self._lock.notify_all()

    def _together(self, batch: Sequence[_Save]) -> list[None]:
        self.transactions += 1
        positions = list(self._insert([event for save in batch for event in save.events]) or [])
        for save in batch:
            save.positions, positions = positions[: len(save.events)], positions[len(save.events) :]
        return []

    def _alone(self, save: _Save) -> list[None]:
        self.transactions += 1
        try:
            save.positions = list(self._insert(save.events) or [])
        except IntegrityError as error:  # this save's conflict: its command handles it
            save.error = error
        return []


def _clashes(batch: list[_Save]) -> tuple[list[_Save], list[_Save]]:
    """The saves that can go in together, and those that repeat an aggregate version of an
    earlier one (two commands raced for it): each of those is written alone afterwards, so
    a race inside one write costs the loser its own save, not the whole write."""
    seen: set[tuple[object, int]] = set()
    clear: list[_Save] = []
    clashing: list[_Save] = []
    for save in batch:
        keys = {(event.originator_id, event.originator_version) for event in save.events}
        (clashing if keys & seen else clear).append(save)
        seen |= keys
    return clear, clashing
