"""One timer thread that fires callbacks at deadlines (the `callable` executor's timeouts)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(order=True)
class Deadline:
    """A pending callback; `cancel` it once the call it guards has ended."""

    at: float
    seq: int
    callback: Callable[[], None] | None = field(compare=False)


class DeadlineTimer:
    """Keeps deadlines in a heap; one daemon thread sleeps until the earliest.

    Cancelled deadlines are dropped lazily and the heap is compacted when they are the
    majority, so its size follows the calls in flight, not the calls ever made.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._heap: list[Deadline] = []
        self._cancelled = 0
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap) - self._cancelled

    def after(self, seconds: float, callback: Callable[[], None]) -> Deadline:
        """Call `callback` (on the timer thread) `seconds` from now, unless cancelled."""
        deadline = Deadline(self._monotonic() + seconds, next(self._seq), callback)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="deadlines", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, deadline)
            if self._heap[0] is deadline:  # only an earlier wake-up needs the thread's attention
                self._cond.notify()
        return deadline

    def cancel(self, deadline: Deadline) -> None:
        """Forget a deadline that has not fired."""
        with self._cond:
            if deadline.callback is None:
                return
            deadline.callback = None
            self._cancelled += 1
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [d for d in self._heap if d.callback is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def close(self) -> None:
        """Stop the thread; pending deadlines never fire."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _serve(self) -> None:
        while True:
            callback = self._next_due()
            if callback is None:
                return
            try:
                callback()
            except Exception:  # one callback's fault must not stop every other deadline
                logger.exception("a deadline callback failed")

    def _next_due(self) -> Callable[[], None] | None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                head = self._heap[0]
                if head.callback is None:
                    heapq.heappop(self._heap)
                    self._cancelled -= 1
                    continue
                delay = head.at - self._monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                callback, head.callback = head.callback, None
                return callback
            return None
