"""Read-your-writes: wait, bounded, until projections have applied a log position."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

from application.ports import Wakeup
from projections.base import Projection
from projections.ports import Database

SELECT_POSITIONS = "SELECT projection, position FROM projection_tracking"


class PositionWaiter:
    """Answers 'has every named projection reached position P?' and waits for it.

    Woken by `committed`: runners in this process ring it after each batch, and on
    PostgreSQL the LISTEN adapter rings it when a runner in another process commits
    (adapters/postgres/listener.py). `poll_seconds` is only the fallback for a lost wake-up.
    Concurrent waits share reads: one woken by the same ring as a read that began after it
    uses that read's positions (eight requests woken by one commit read the table once).
    """

    def __init__(
        self,
        database: Database,
        committed: Wakeup,
        poll_seconds: float = 0.01,
        projections: Sequence[Projection] = (),
    ) -> None:
        self._db = database
        self._committed = committed
        self._poll = poll_seconds
        self._topics = {projection.name: projection.topics() for projection in projections}
        self._lock = threading.Lock()
        # (the ring's generation when the read began, when it began, what it read)
        self._last_read: tuple[int, float, dict[str, int]] | None = None

    def views_for(self, topics: frozenset[str] | None, names: Iterable[str]) -> list[str]:
        """The named views that handle one of `topics`: the ones a save of them changes.

        Unknown topics (None) or a view it has not been told about count as handled.
        """
        if topics is None:
            return list(names)
        return [name for name in names if name not in self._topics or self._topics[name] & topics]

    def positions(self) -> dict[str, int]:
        """Each projection's applied position."""
        return {r["projection"]: int(r["position"]) for r in self._db.query(SELECT_POSITIONS)}

    def reached(self, position: int, names: Iterable[str]) -> bool:
        """Whether all the named projections have applied `position`."""
        positions = self.positions()
        return all(positions.get(name, 0) >= position for name in names)

    def wait(self, position: int | None, names: Iterable[str], timeout: float) -> bool:
        """Wait until reached or timed out; True when reached."""
        names = tuple(names)
        if not position or not names:
            return True
        deadline = time.monotonic() + timeout
        while True:
            generation = self._committed.generation()
            positions = self._positions_since(generation)
            if all(positions.get(name, 0) >= position for name in names):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._committed.wait(generation, min(remaining, self._poll))

    def _positions_since(self, generation: int) -> dict[str, int]:
        """The positions, read again unless a read began at this ring's generation (and less
        than a poll ago: a timed-out wait for a lost ring reads again)."""
        with self._lock:
            last = self._last_read
        now = time.monotonic()
        if last is not None and last[0] == generation and now - last[1] < self._poll:
            return last[2]
        positions = self.positions()
        with self._lock:
            if self._last_read is None or self._last_read[1] < now:
                self._last_read = (generation, now, positions)
        return positions
