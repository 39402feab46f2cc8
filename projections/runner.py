"""Runs one projection: reads the log in batches and commits rows with the position."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from application.circuit_breaker import CircuitBreaker, CircuitOpenError
from application.ports import Wakeup
from application.quarantine import HELD, RELEASED, QuarantineEntry
from application.tracing import NO_TRACER, Tracer
from projections.base import Projection
from projections.guard import AggregateLog, ProjectionGuard
from projections.ports import Database, EventLog, Lease, Tx
from projections.quarantine import TxQuarantineLedger
from projections.status import clear_error, record_error
from projections.tracing import traced
from projections.tracking import (
    ADVANCE_POSITION,
    SELECT_POSITION,
    ProjectionConflictError,
    try_lock_position,
)

logger = logging.getLogger(__name__)

ANY_REQUEST = """
SELECT 1 AS found FROM quarantine
WHERE consumer = %(consumer)s AND status = 'held' AND request IS NOT NULL LIMIT 1
"""
MOVED_RETRIES = 3
LEASE_RETRY_SECONDS = 2.0


class _PositionMovedError(Exception):
    """The position changed between reading the batch and locking the tracking row."""


class Follower(Protocol):
    """Something that follows the log in a thread of its own: a runner, or the joint projector."""

    @property
    def name(self) -> str: ...

    def run_forever(self, stop: threading.Event) -> None: ...


@dataclass
class ProjectionStatus:
    """What a runner last did, for /health and metrics."""

    position: int = 0
    last_error: str | None = None
    events_processed: int = 0
    last_batch_at: float = field(default_factory=time.monotonic)
    waiting_for_lease: bool = False


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
        lease: Lease | None = None,
        lease_retry: float = LEASE_RETRY_SECONDS,
        aggregate_log: AggregateLog | None = None,
        announce: Callable[[Tx], None] | None = None,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self.projection = projection
        self._tracer = tracer
        self._log = log
        self._db = database
        self._wakeup = wakeup
        self._committed = committed
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self.status = ProjectionStatus()
        self.breaker = breaker or CircuitBreaker(f"projection:{projection.name}")
        self.lease = lease  # None: no other process runs this projection
        self._lease_retry = lease_retry
        self._error_stored = True  # unknown at start: clear a stale error after the first batch
        self._next_after: int | None = None  # the position this runner's last batch committed
        self._aggregate_log = aggregate_log  # a retry reads the held aggregate back from it
        self._announce = announce  # tells other processes, in the batch's transaction

    @property
    def name(self) -> str:
        """The projection's name."""
        return self.projection.name

    @property
    def announce(self) -> Callable[[Tx], None] | None:
        """What tells other processes of a batch, inside its transaction (None: nothing)."""
        return self._announce

    def position(self) -> int:
        """The last log position this projection has applied."""
        row = self._db.one(SELECT_POSITION, {"name": self.projection.name})
        return int(row["position"]) if row else 0

    def run_once(self) -> int:
        """Apply the next batch; returns how many events were read (0 when caught up).

        Raises:
            ProjectionConflictError: the position kept moving under it (a twin runner).
        """
        for _ in range(MOVED_RETRIES):
            try:
                return self._apply_next_batch()
            except _PositionMovedError:
                # A rebuild swapped its tables in (or a twin advanced): read from the new spot.
                self._next_after = None
                continue
        raise ProjectionConflictError(
            f"projection {self.projection.name!r} was advanced by another runner"
        )

    def catch_up(self) -> int:
        """Apply batches until the projection reaches the head it saw; returns events applied."""
        total = 0
        while (count := self.run_once()) > 0:
            total += count
        return total

    def run_forever(self, stop: threading.Event) -> None:
        """Follow the log until stopped: woken by saves or notifications, and by a timer."""
        try:
            while not stop.is_set():
                if not self.hold_lease():
                    stop.wait(self._lease_retry)
                    continue
                generation = self._wakeup.generation()
                try:
                    count = self.breaker.call(self.run_once)
                except CircuitOpenError as error:
                    stop.wait(max(error.retry_after, 0.05))
                    continue
                except Exception as error:  # keep following: a database blip must not stop it
                    self.failed(error)
                    stop.wait(self.breaker.retry_after() or 0.2)
                    continue
                self.succeeded()
                if count < self._batch_size:
                    # The timer is the fallback for a lost wake-up (a NOTIFY can be lost).
                    self._wakeup.wait(generation, self._poll_interval)
        finally:
            if self.lease is not None:
                self.lease.release()

    def _apply_next_batch(self) -> int:
        # Right after a batch this runner committed, its position is known without asking
        # (the batch's lock checks it); otherwise, and whenever it was idle, it is read.
        old = self._next_after if self._next_after is not None else self.position()
        self._next_after = None
        batch = self._log.read_log(old, self._batch_size)
        if not batch:
            self.caught_up(old)
            self._handle_requests(old)
            return 0
        new = batch[-1][0]
        try:
            if not self._commit(batch, old, new, careful=False):
                return 0  # a rebuild's switch holds the position: try again on the timer
        except (_PositionMovedError, ProjectionConflictError):
            raise
        except Exception as error:
            # One event failed (or the database did): redo the batch with a savepoint per
            # event, so a bad event holds only its own aggregate. A database that is down
            # fails this attempt too, and the caller backs off.
            logger.info(
                "projection %s: batch after %d failed (%s); isolating the event",
                self.projection.name,
                old,
                type(error).__name__,
                extra={"projection": self.projection.name},
            )
            if not self._commit(batch, old, new, careful=True):
                return 0
        self.applied(new, len(batch))
        self._committed.ring()
        return len(batch)

    def _commit(self, batch: list[tuple[int, Any]], old: int, new: int, careful: bool) -> bool:
        """Apply the batch in one transaction; False when a rebuild's switch holds the row.

        The first try is pipelined: its statements go out without waiting for each answer,
        so a batch costs a few round trips instead of a few per event. A failure surfaces by
        the commit at the latest and fails the whole try; the careful redo then runs with a
        savepoint per event (each one a round trip, only on that rare path).
        """
        with self._db.transaction() if careful else self._db.pipelined() as tx:
            # Taken first: a rebuild's swap holds it, and then this batch must be re-read.
            # Not waited for: a runner blocked on it would hold a pooled connection (the
            # process's budget) for as long as the rebuild runs; it tries again on its timer.
            locked = try_lock_position(tx, self._db, self.projection.name)
            if locked is None:
                return False
            if locked != old:
                raise _PositionMovedError
            self.apply(tx, batch, old, careful)
            self._advance(tx, old, new)
            if self._announce is not None:
                self._announce(tx)
        return True

    def apply(
        self,
        tx: Tx,
        batch: list[tuple[int, Any]],
        old: int,
        careful: bool,
        entries: list[QuarantineEntry] | None = None,
    ) -> None:
        """Apply a batch read after `old` inside `tx` (whose caller holds the tracking row).

        `entries` are this projection's held and released quarantine entries, when the
        caller read them already (a joint batch reads every projection's at once).
        """
        guard = self._guard(tx, old, careful, entries)
        process = traced(guard.process, self._tracer, self.projection)
        for position, event in batch:
            process(event, position)
        guard.flush()
        guard.finish()
        if guard.failed:
            logger.warning(
                "projection %s quarantined %s",
                self.projection.name,
                ", ".join(k for k, h in guard.holds.items() if h.new),
                extra={"projection": self.projection.name, "action": "quarantined"},
            )

    def applied(self, new: int, count: int) -> None:
        """Note a batch of `count` events committed up to `new` (by this runner or jointly)."""
        self.status.position = self._next_after = new
        self.status.events_processed += count
        self.status.last_batch_at = time.monotonic()

    def known_position(self) -> int | None:
        """The position this runner's last batch committed, while nothing else may have moved it."""
        return self._next_after

    def forget_position(self) -> None:
        """Read the position again before the next batch (it moved under this runner)."""
        self._next_after = None

    def _guard(
        self, tx: Tx, old: int, careful: bool, entries: list[QuarantineEntry] | None = None
    ) -> ProjectionGuard:
        ledger = TxQuarantineLedger(tx)
        if entries is None:
            entries = ledger.entries(self.projection.consumer, statuses=(HELD, RELEASED))
        guard = ProjectionGuard(
            self.projection,
            tx,
            ledger,
            _now,
            careful=careful,
            after=old,
            entries=entries,
            is_outage=self._db.is_outage,
        )
        requests = [e for e in entries if e.request is not None]
        if requests:
            guard.handle_requests(requests, self._aggregate_log, old)
        return guard

    def _handle_requests(self, position: int) -> None:
        """Act on operator requests while caught up (no batch would carry them)."""
        if self._db.one(ANY_REQUEST, {"consumer": self.projection.consumer}) is None:
            return
        self.handle_requests(position)

    def handle_requests(self, position: int) -> None:
        """Act on this projection's operator requests at `position`, if it still stands there."""
        with self._db.transaction() as tx:
            if try_lock_position(tx, self._db, self.projection.name) != position:
                return  # moved on meanwhile (or a rebuild holds it): the next batch handles them
            self._guard(tx, position, careful=True).finish()

    def caught_up(self, position: int) -> None:
        """Note that the log holds nothing after `position` for now."""
        self.status.position = position

    def hold_lease(self) -> bool:
        """Take the lease or confirm it is still held (always, without one)."""
        held = self.lease.acquire() if self.lease is not None else True
        if held == self.status.waiting_for_lease:  # log each change, not every retry
            logger.info(
                "projection %s: %s",
                self.projection.name,
                "lease taken, running"
                if held
                else "waiting for its lease (held by another process, or no database)",
                extra={"projection": self.projection.name},
            )
        self.status.waiting_for_lease = not held
        return held

    def failed(self, error: Exception, store: bool = True) -> bool:
        """Note a failed batch; unless `store` is False, store the error for other processes.

        Returns whether the error was stored.
        """
        self.status.last_error = f"{type(error).__name__}: {error}"
        logger.warning(
            "projection batch failed: %s",
            self.status.last_error,
            extra={"projection": self.projection.name},
        )
        # Stored for other processes (status, /health); cleared by the next good batch.
        stored = store and record_error(
            self._db, self.projection.name, self.status.last_error, _now()
        )
        self._error_stored = stored or self._error_stored
        return stored

    def succeeded(self) -> None:
        """Note a good batch: forget the last error, here and where it was stored."""
        self.status.last_error = None
        if self._error_stored:
            self._error_stored = not clear_error(self._db, self.projection.name)

    def _advance(self, tx: Tx, old: int, new: int) -> None:
        advanced = tx.one(
            ADVANCE_POSITION,
            {"name": self.projection.name, "old": old, "new": new, "at": _now()},
        )
        if advanced is None:
            raise ProjectionConflictError(
                f"projection {self.projection.name!r} was advanced by another runner"
            )


def _now() -> datetime:
    return datetime.now(UTC)


class RunnerSupervisor:
    """Keeps one thread per runner alive: a thread that dies is logged and started again.

    `run_forever` survives batch errors itself; this covers what escapes it (a bug, a lease
    connection that cannot even be opened). Restarts back off from 1 s to 30 s, and the
    back-off starts over once a restarted thread has stayed up for a minute.
    """

    def __init__(
        self,
        runners: Sequence[Follower],
        start_thread: Callable[[str, Callable[..., None], threading.Event], threading.Thread],
        *,
        min_backoff: float = 1.0,
        max_backoff: float = 30.0,
        check_interval: float = 0.5,
        healthy_after: float = 60.0,
    ) -> None:
        self._runners = runners
        self._start_thread = start_thread
        self._min, self._max = min_backoff, max_backoff
        self._check = check_interval
        self._healthy_after = healthy_after
        self.restarts: dict[str, int] = {r.name: 0 for r in runners}

    def run(self, stop: threading.Event) -> None:
        """Start every runner's thread, then restart dead ones until stopped."""
        threads = {r.name: self._start(r, stop) for r in self._runners}
        started = dict.fromkeys(threads, time.monotonic())
        backoff = dict.fromkeys(threads, self._min)
        due: dict[str, float] = {}
        while not stop.wait(self._check):
            for runner in self._runners:
                name, now = runner.name, time.monotonic()
                if threads[name].is_alive():
                    continue
                if name not in due:
                    if now - started[name] > self._healthy_after:
                        backoff[name] = self._min
                    due[name] = now + backoff[name]
                    logger.error(
                        "projection runner %s stopped; restarting in %.1fs",
                        name,
                        backoff[name],
                        extra={"projection": name},
                    )
                elif now >= due[name]:
                    del due[name]
                    threads[name], started[name] = self._start(runner, stop), now
                    backoff[name] = min(backoff[name] * 2, self._max)
                    self.restarts[name] += 1
                    logger.warning("projection runner %s restarted", name)

    def _start(self, runner: Follower, stop: threading.Event) -> threading.Thread:
        return self._start_thread(f"projection-{runner.name}", _logged(runner), stop)


def _logged(runner: Follower) -> Callable[[threading.Event], None]:
    def run(stop: threading.Event) -> None:
        try:
            runner.run_forever(stop)
        except Exception:  # logged here with its traceback; the supervisor restarts it
            logger.exception("projection runner %s crashed", runner.name)

    return run
