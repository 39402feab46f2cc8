"""Token buckets by key, in the memory of one process, with a bounded number of keys."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 100_000  # the least recently seen key is forgotten (its bucket is full again)


class TokenBuckets:
    """`burst` tokens per key, refilled at `rate` per second; a request takes one.

    Kept in GCRA form, one float per key (the time its bucket will be full again), which
    gives the same answers as counting tokens and the exact wait until the next one.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        max_keys: int = MAX_KEYS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self._interval = 1.0 / rate
        self._tolerance = self._interval * (burst - 1)
        self._max_keys = max_keys
        self._monotonic = monotonic
        self._full_at: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()  # the event loop and threadpool routes both call in

    def take(self, key: str, tokens: int = 1) -> float:
        """Take `tokens`: 0.0 when there were as many, else the seconds until there are (none
        taken; more than `burst` at once never fit, and the wait says when a burst would)."""
        with self._lock:
            now = self._monotonic()
            full_at = max(self._full_at.get(key, now), now)
            wait = full_at + (tokens - 1) * self._interval - self._tolerance - now
            if wait > 0:
                return wait
            self._full_at[key] = full_at + tokens * self._interval
            self._full_at.move_to_end(key)
            if len(self._full_at) > self._max_keys:
                self._full_at.popitem(last=False)
            return 0.0

    def wait(self, key: str) -> float:
        """Seconds until `key` has a token (0.0: it has one now); takes nothing."""
        with self._lock:
            now = self._monotonic()
            return max(0.0, self._full_at.get(key, now) - self._tolerance - now)

    def __len__(self) -> int:
        return len(self._full_at)
