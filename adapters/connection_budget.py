"""A unit of work's (one request's) budget for waiting on pooled database connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class WaitBudget:
    """Seconds a unit of work (one request) may still spend waiting for pooled connections."""

    def __init__(self, seconds: float) -> None:
        self.remaining = seconds
        self._lock = threading.Lock()

    def spend(self, seconds: float) -> None:
        """Take waited time off the budget."""
        with self._lock:
            self.remaining = max(0.0, self.remaining - seconds)


_budget: ContextVar[WaitBudget | None] = ContextVar("connection_wait_budget", default=None)


@contextmanager
def connection_wait_budget(seconds: float) -> Iterator[WaitBudget]:
    """Bound the total checkout wait of everything run in this context (threads it starts too)."""
    budget = WaitBudget(seconds)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def current_budget() -> WaitBudget | None:
    """The budget of the work running now, if it has one."""
    return _budget.get()
