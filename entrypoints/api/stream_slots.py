"""A cap on the event streams one process keeps open: each holds a connection and a poller."""

from __future__ import annotations

import threading


class Slot:
    """One open stream's place; releasing it twice frees it once."""

    def __init__(self, slots: StreamSlots) -> None:
        self._slots = slots
        self._held = True

    def release(self) -> None:
        """Give the place back (idempotent: both the stream's end and its cleanup call it)."""
        if self._held:
            self._held = False
            self._slots.give_back()


class StreamSlots:
    """At most `capacity` streams at once; past it, callers are told to come back later."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._open = 0
        self._lock = threading.Lock()

    def take(self) -> Slot | None:
        """A place for one more stream, or None when every place is taken."""
        with self._lock:
            if self._open >= self.capacity:
                return None
            self._open += 1
        return Slot(self)

    def give_back(self) -> None:
        """One stream ended."""
        with self._lock:
            self._open -= 1

    @property
    def open(self) -> int:
        """How many streams hold a place now."""
        return self._open
