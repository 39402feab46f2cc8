"""Ports the application needs from the outside: time, ids and wake-ups."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID


class Clock(Protocol):
    """Tells the time; fakeable so that decisions are testable."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when a test moves it."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self._now += timedelta(seconds=seconds)


IdFactory = Callable[[], UUID]


def random_ids() -> UUID:
    """A fresh random id (uuid4)."""
    return uuid.uuid4()


class Wakeup:
    """A doorbell: writers ring it after saving, followers wait on it with a timeout."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    def ring(self) -> None:
        """Wake everyone waiting."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def generation(self) -> int:
        """A counter that changes on every ring; read it before checking for work."""
        with self._condition:
            return self._generation

    def wait(self, seen_generation: int, timeout: float) -> bool:
        """Wait until rung after `seen_generation`, or the timeout; True if rung."""
        with self._condition:
            return self._condition.wait_for(lambda: self._generation != seen_generation, timeout)
