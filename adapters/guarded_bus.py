"""A bus behind a circuit breaker: a bus that is down is not hammered by every thread."""

from __future__ import annotations

from typing import Any

from application.circuit_breaker import CircuitBreaker

# Calls that only read local state or release resources are not guarded.
UNGUARDED = frozenset({"close", "heartbeat_listener", "delete_all", "prefix", "inbox_key"})


class GuardedBus:
    """Forwards every bus call through one breaker; failures open it, successes close it."""

    def __init__(self, bus: Any, breaker: CircuitBreaker) -> None:
        self._bus = bus
        self.breaker = breaker

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._bus, name)
        if name in UNGUARDED or not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self.breaker.call(attribute, *args, **kwargs)

        return guarded
