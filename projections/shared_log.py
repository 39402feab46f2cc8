"""One read and decode of the log for every projection runner of a process."""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from projections.ports import EventLog

DEFAULT_CAPACITY = 2_000
# How long a head read stays the head when no save was heard since (the doorbell can lose a
# ring, e.g. a lost NOTIFY; then a runner's timer read after this long reads the store).
FRESH_SECONDS = 0.05


class SharedLogReads:
    """The log as the runners read it, with the newest events read kept for the next runner.

    The runners of one process follow the same log at about the same position, so each batch
    was read and decoded once per runner. Here the first runner to ask reads it; the others
    are served the same decoded events from a window of the last `capacity` read. The window
    holds exactly the log's rows in (start, end]: it only grows by reading on from its end,
    and the log is append-only with positions committed in order, so what it serves is what a
    direct read would have returned. A request the window cannot fill is completed by reading
    on from its end, so a runner is not served a stale head: unless `rung` (the generation of
    the doorbell saves ring) says nothing was saved since the last read reached the head, less
    than FRESH_SECONDS ago; then the head is known and the runners after the first do not ask
    the store again.
    """

    def __init__(
        self,
        log: EventLog,
        capacity: int = DEFAULT_CAPACITY,
        rung: Callable[[], int] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._capacity = capacity
        self._rung = rung
        self._monotonic = monotonic
        self._head: tuple[int, float] | None = None  # (generation, time) the head was read
        self._lock = threading.Lock()  # held across a read: a runner waiting for it is served
        self._start = 0
        self._positions: list[int] = []
        self._events: list[Any] = []
        self._empty = True  # no window yet (start means nothing)
        self.reads = 0  # reads of the store, for tests and metrics
        self.served = 0  # events handed out from the window without a read

    def read_log(self, after: int, limit: int) -> list[tuple[int, Any]]:
        """Up to `limit` events after a log position, with their positions."""
        with self._lock:
            end = self._positions[-1] if self._positions else self._start
            if self._empty or not self._start <= after <= end:
                return self._read_outside(after, limit)
            index = bisect_right(self._positions, after)
            stop = index + limit
            served = list(zip(self._positions[index:stop], self._events[index:stop], strict=True))
            self.served += len(served)
            if len(served) < limit and not self._head_known():
                served += self._extend(end, limit - len(served))
            return served

    def head_position(self) -> int:
        """The position of the newest event in the log."""
        return self._log.head_position()

    def _read_outside(self, after: int, limit: int) -> list[tuple[int, Any]]:
        if not self._empty and after < self._start:
            # Behind the window (a runner catching up far back): read for it alone, and keep
            # the window where the others are.
            self.reads += 1
            return self._log.read_log(after, limit)
        # Ahead of the window, or none yet: a new window starts where this runner is.
        self._start, self._positions, self._events, self._empty = after, [], [], False
        return self._extend(after, limit)

    def _head_known(self) -> bool:
        if self._head is None or self._rung is None:
            return False
        generation, at = self._head
        return self._rung() == generation and self._monotonic() - at < FRESH_SECONDS

    def _extend(self, end: int, limit: int) -> list[tuple[int, Any]]:
        self.reads += 1
        # Taken before the read: a save heard while it runs makes the next request read too.
        mark = (self._rung(), self._monotonic()) if self._rung is not None else None
        batch = self._log.read_log(end, limit)
        self._head = mark if len(batch) < limit else None
        for position, event in batch:
            self._positions.append(position)
            self._events.append(event)
        excess = len(self._positions) - self._capacity
        if excess > 0:
            self._start = self._positions[excess - 1]
            del self._positions[:excess], self._events[:excess]
        return batch
