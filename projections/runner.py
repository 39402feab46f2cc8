"""Runs one projection: reads the log in batches and commits rows with the position."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from application.circuit_breaker import CircuitBreaker, CircuitOpenError
from application.ports import Wakeup
from projections.base import Projection
from projections.ports import Database, EventLog, Tx

logger = logging.getLogger(__name__)

SELECT_POSITION = "SELECT position FROM projection_tracking WHERE projection = %(name)s"
INIT_POSITION = """
INSERT INTO projection_tracking (projection, position) VALUES (%(name)s, 0)
ON CONFLICT (projection) DO NOTHING
"""
# Compare-and-set: if another copy of this projection moved the position, we roll back.
ADVANCE_POSITION = """
UPDATE projection_tracking SET position = %(new)s, updated_at = %(at)s
WHERE projection = %(name)s AND position = %(old)s
"""


class ProjectionConflictError(Exception):
    """Another runner of the same projection advanced the position first."""


@dataclass
class ProjectionStatus:
    """What a runner last did, for /health and metrics."""

    position: int = 0
    last_error: str | None = None
    events_processed: int = 0
    last_batch_at: float = field(default_factory=time.monotonic)


class ProjectionRunner:
    """Applies events to one projection's tables, a batch per transaction, exactly once."""

    def __init__(
        self,
        projection: Projection,
        log: EventLog,
        database: Database,
        *,
        wakeup: Wakeup,
        committed: Wakeup,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.projection = projection
        self._log = log
        self._db = database
        self._wakeup = wakeup
        self._committed = committed
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self.status = ProjectionStatus()
        self.breaker = breaker or CircuitBreaker(f"projection:{projection.name}")

    def position(self) -> int:
        """The last log position this projection has applied."""
        row = self._db.one(SELECT_POSITION, {"name": self.projection.name})
        return int(row["position"]) if row else 0

    def run_once(self) -> int:
        """Apply the next batch; returns how many events were read (0 when caught up)."""
        old = self.position()
        batch = self._log.read_log(old, self._batch_size)
        if not batch:
            self.status.position = old
            return 0
        new = batch[-1][0]
        with self._db.transaction() as tx:
            for position, event in batch:
                self.projection.process(event, position, tx)
            self._advance(tx, old, new)
        self.status.position = new
        self.status.events_processed += len(batch)
        self.status.last_batch_at = time.monotonic()
        self._committed.ring()
        return len(batch)

    def catch_up(self) -> int:
        """Apply batches until the projection reaches the head it saw; returns events applied."""
        total = 0
        while (count := self.run_once()) > 0:
            total += count
        return total

    def run_forever(self, stop: threading.Event) -> None:
        """Follow the log until stopped: woken by saves or notifications, and by a timer."""
        while not stop.is_set():
            generation = self._wakeup.generation()
            try:
                count = self.breaker.call(self.run_once)
                self.status.last_error = None
            except CircuitOpenError as error:
                stop.wait(max(error.retry_after, 0.05))
                continue
            except Exception as error:  # keep following: a database blip must not stop it
                self.status.last_error = f"{type(error).__name__}: {error}"
                logger.warning(
                    "projection batch failed: %s",
                    self.status.last_error,
                    extra={"projection": self.projection.name},
                )
                stop.wait(self.breaker.retry_after() or 0.2)
                continue
            if count < self._batch_size:
                # The timer is the fallback for a lost wake-up (a NOTIFY can be lost).
                self._wakeup.wait(generation, self._poll_interval)

    def _advance(self, tx: Tx, old: int, new: int) -> None:
        tx.execute(INIT_POSITION, {"name": self.projection.name})
        changed = tx.execute(
            ADVANCE_POSITION,
            {"name": self.projection.name, "old": old, "new": new, "at": datetime.now(UTC)},
        )
        if changed != 1:
            raise ProjectionConflictError(
                f"projection {self.projection.name!r} was advanced by another runner"
            )
