"""Circuit breakers: stop hammering a server that is down, back off, close when it answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")


class CircuitState(StrEnum):
    """Closed: calls go through. Open: calls fail fast. Half-open: one trial call."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """The breaker is open: the server failed recently; retry after `retry_after` seconds."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"{name} is unavailable (circuit open); retry in {retry_after:.1f}s")
        self.name = name
        self.retry_after = retry_after


@dataclass(frozen=True)
class BreakerPolicy:
    """When to open and how long to stay open (doubling up to a ceiling)."""

    failure_threshold: int = 3
    initial_backoff: float = 0.5
    max_backoff: float = 30.0


class CircuitBreaker:
    """A thread-safe breaker around one dependency (a database, a bus, an HTTP host)."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._policy = policy or BreakerPolicy()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._backoff = self._policy.initial_backoff
        self._state = CircuitState.CLOSED
        self._trial_running = False
        self.last_error: str | None = None

    @property
    def state(self) -> CircuitState:
        """The state now (an open breaker whose backoff elapsed reads as half-open)."""
        with self._lock:
            return self._current_state()

    def retry_after(self) -> float:
        """Seconds until the next trial call is allowed (0 when calls may go through)."""
        with self._lock:
            if self._current_state() is not CircuitState.OPEN:
                return 0.0
            return max(0.0, self._opened_at + self._backoff - self._monotonic())

    def allow(self) -> None:
        """Raise CircuitOpenError unless a call may go through now."""
        with self._lock:
            state = self._current_state()
            if state is CircuitState.CLOSED:
                return
            if state is CircuitState.HALF_OPEN and not self._trial_running:
                self._trial_running = True  # exactly one trial while half-open
                return
            wait = max(0.0, self._opened_at + self._backoff - self._monotonic())
        raise CircuitOpenError(self.name, wait)

    def record_success(self) -> None:
        """The dependency answered: close the breaker and reset the backoff."""
        with self._lock:
            self._failures = 0
            self._state = CircuitState.CLOSED
            self._backoff = self._policy.initial_backoff
            self._trial_running = False
            self.last_error = None

    def record_failure(self, error: BaseException | str) -> None:
        """The dependency failed: open after enough failures; a failed trial doubles the wait."""
        with self._lock:
            self.last_error = str(error)[:500]
            if self._trial_running or self._state is CircuitState.OPEN:
                self._backoff = min(self._backoff * 2, self._policy.max_backoff)
                self._open()
                return
            self._failures += 1
            if self._failures >= self._policy.failure_threshold:
                self._open()

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call through the breaker; failures (any exception) count against the dependency."""
        self.allow()
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            self.record_failure(error)
            raise
        self.record_success()
        return result

    def snapshot(self) -> dict[str, Any]:
        """State for /health."""
        return {
            "state": self.state.value,
            "retry_after_seconds": round(self.retry_after(), 3),
            "last_error": self.last_error,
        }

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = self._monotonic()
        self._trial_running = False

    def _current_state(self) -> CircuitState:
        if (
            self._state is CircuitState.OPEN
            and self._monotonic() >= self._opened_at + self._backoff
        ):
            return CircuitState.HALF_OPEN
        return self._state


class BreakerRegistry:
    """Every breaker of a process, by name, for /health and metrics."""

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self._policy = policy
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> CircuitBreaker:
        """The breaker of that name, created on first use."""
        with self._lock:
            if name not in self._breakers:
                self._breakers[name] = CircuitBreaker(name, self._policy)
            return self._breakers[name]

    def all(self) -> dict[str, CircuitBreaker]:
        """Every breaker."""
        with self._lock:
            return dict(self._breakers)
