"""Read-your-writes: wait, bounded, until projections have applied a log position."""

from __future__ import annotations

import time
from collections.abc import Iterable

from application.ports import Wakeup
from projections.ports import Database

SELECT_POSITIONS = "SELECT projection, position FROM projection_tracking"


class PositionWaiter:
    """Answers 'has every named projection reached position P?' and waits for it."""

    def __init__(self, database: Database, committed: Wakeup, poll_seconds: float = 0.01) -> None:
        self._db = database
        self._committed = committed
        self._poll = poll_seconds

    def positions(self) -> dict[str, int]:
        """Each projection's applied position."""
        return {r["projection"]: int(r["position"]) for r in self._db.query(SELECT_POSITIONS)}

    def reached(self, position: int, names: Iterable[str]) -> bool:
        """Whether all the named projections have applied `position`."""
        positions = self.positions()
        return all(positions.get(name, 0) >= position for name in names)

    def wait(self, position: int | None, names: Iterable[str], timeout: float) -> bool:
        """Wait until reached or timed out; True when reached."""
        if not position:
            return True
        names = tuple(names)
        deadline = time.monotonic() + timeout
        while True:
            generation = self._committed.generation()
            if self.reached(position, names):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # In-process commits ring the bell; other processes are seen by polling.
            self._committed.wait(generation, min(remaining, self._poll))
