"""Applies each batch of the log to every projection of a process in one transaction."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from application.circuit_breaker import CircuitOpenError, CircuitState
from application.ports import Wakeup
from application.quarantine import HELD, RELEASED, QuarantineEntry
from projections.ports import Database, EventLog, Tx
from projections.quarantine import select_entries
from projections.runner import LEASE_RETRY_SECONDS, ProjectionRunner
from projections.tracking import advance_positions, read_positions, try_lock_positions

logger = logging.getLogger(__name__)

Batch = list[tuple[int, Any]]
REQUESTED = """
SELECT DISTINCT consumer FROM quarantine WHERE status = 'held' AND request IS NOT NULL
"""
FAILED_PAUSE_SECONDS = 0.2  # after a round in which a batch failed, as a runner waits


class JointProjector:
    """The runners of one process following the log together: one batch, one commit.

    Runners at the same position share a transaction: one statement locks their tracking
    rows, each projection applies the batch through its own guard (on the careful redo a
    savepoint per event, so a bad event still holds only its aggregate in that projection),
    one statement moves every position, and the commit wakes read-your-writes waits once.
    A runner at another position (a rebuild swapped its tables in, or it is new) forms a
    group of its own and stops at the next group's position, where they join. A runner
    whose tracking row a rebuild's switch holds sits the batch out; one whose lease another
    process holds is left out (and asked again every `lease_retry`); one whose breaker is
    not closed runs alone, through its breaker, until a batch of its own succeeds.
    """

    name = "joint"

    def __init__(
        self,
        runners: Sequence[ProjectionRunner],
        log: EventLog,
        database: Database,
        *,
        wakeup: Wakeup,
        committed: Wakeup,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        lease_retry: float = LEASE_RETRY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runners = list(runners)
        self._log = log
        self._db = database
        self._wakeup = wakeup
        self._committed = committed
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lease_retry = lease_retry
        self._monotonic = monotonic
        self._lease_due: dict[str, float] = {}  # runner -> when to ask for its lease again
        self._failed = False  # a batch failed in the last round
        self.commits = 0  # joint transactions committed, for tests and metrics

    def run_once(self) -> int:
        """One round: each group applies its next batch; returns the most events one read."""
        self._failed = False
        together: list[ProjectionRunner] = []
        alone: list[ProjectionRunner] = []
        for runner in self._leased():
            closed = runner.breaker.state is CircuitState.CLOSED
            (together if closed else alone).append(runner)
        most = max((self._alone(r) for r in alone), default=0)
        try:
            groups = self._groups(together)
        except Exception as error:  # the positions cannot be read: the database, surely
            self._all_failed(together, error)
            return most
        for index, (position, group) in enumerate(groups):
            ahead = groups[index + 1][0] if index + 1 < len(groups) else None
            most = max(most, self._together(group, position, ahead))
        return most

    def catch_up(self) -> int:
        """Rounds until every leased runner reaches the head it saw; returns events read."""
        total = 0
        while (count := self.run_once()) > 0:
            total += count
        return total

    def run_forever(self, stop: threading.Event) -> None:
        """Follow the log until stopped: woken by saves or notifications, and by a timer."""
        try:
            while not stop.is_set():
                generation = self._wakeup.generation()
                try:
                    count = self.run_once()
                except Exception:  # keep following; each runner's own errors are recorded
                    logger.exception("joint projection round failed")
                    stop.wait(FAILED_PAUSE_SECONDS)
                    continue
                if self._failed:
                    stop.wait(FAILED_PAUSE_SECONDS)
                elif count < self._batch_size:
                    # The timer is the fallback for a lost wake-up (a NOTIFY can be lost).
                    self._wakeup.wait(generation, self._pause())
        finally:
            for runner in self.runners:
                if runner.lease is not None:
                    runner.lease.release()

    def _leased(self) -> list[ProjectionRunner]:
        now, held = self._monotonic(), []
        for runner in self.runners:
            if self._lease_due.get(runner.name, 0.0) > now:
                continue
            if runner.hold_lease():
                self._lease_due.pop(runner.name, None)
                held.append(runner)
            else:
                self._lease_due[runner.name] = now + self._lease_retry
        return held

    def _pause(self) -> float:
        """The poll interval, shorter when a lease or a breaker is due to be tried sooner."""
        now = self._monotonic()
        waits = [self._poll_interval]
        waits += [max(due - now, 0.05) for due in self._lease_due.values()]
        retries = [r.breaker.retry_after() for r in self.runners]
        waits += [max(retry, 0.05) for retry in retries if retry > 0]
        return min(waits)

    def _groups(self, runners: list[ProjectionRunner]) -> list[tuple[int, list[ProjectionRunner]]]:
        """The runners by position, lowest first (positions not known are read in one query)."""
        if any(r.known_position() is None for r in runners):
            stored = read_positions(self._db)
        else:
            stored = {}

        def position(runner: ProjectionRunner) -> int:
            known = runner.known_position()
            return known if known is not None else stored.get(runner.name, 0)

        ordered = sorted(runners, key=position)
        return [(p, list(group)) for p, group in groupby(ordered, key=position)]

    def _alone(self, runner: ProjectionRunner) -> int:
        """One batch of one runner in its own transaction, through its breaker."""
        try:
            count = runner.breaker.call(runner.run_once)
        except CircuitOpenError:
            return 0
        except Exception as error:
            self._failed = True
            runner.failed(error)
            return 0
        runner.succeeded()
        return count

    def _together(self, group: list[ProjectionRunner], old: int, ahead: int | None) -> int:
        try:
            read = self._log.read_log(old, self._batch_size)
        except Exception as error:  # the log cannot be read: every runner's batch failed
            self._all_failed(group, error)
            return 0
        if not read:
            for runner in group:
                runner.caught_up(old)
            self._handle_requests(group, old)
            return 0
        # Behind another group: stop where it stands, so that the two join for the next batch.
        batch = [(p, e) for p, e in read if ahead is None or p <= ahead] or read
        new = batch[-1][0]
        try:
            applied = self._commit(group, batch, old, new, careful=False)
        except Exception as error:
            # One event failed (or the database did): redo with a savepoint per event, so a
            # bad event holds only its own aggregate in the projection it failed in.
            logger.info(
                "projections %s: batch after %d failed (%s); isolating the event",
                ",".join(r.name for r in group),
                old,
                type(error).__name__,
            )
            try:
                applied = self._commit(group, batch, old, new, careful=True)
            except Exception as redo_error:
                return self._apart(group, redo_error)
        for runner in applied:
            runner.applied(new, len(batch))
            runner.breaker.record_success()
            runner.succeeded()
        if not applied:
            return 0  # a rebuild's switch holds them, or moved them: try again next round
        self.commits += 1
        self._committed.ring()
        return len(read)

    def _commit(
        self, group: list[ProjectionRunner], batch: Batch, old: int, new: int, careful: bool
    ) -> list[ProjectionRunner]:
        """Apply the batch to the group in one transaction; returns the runners that did."""
        with self._db.transaction() if careful else self._db.pipelined() as tx:
            # Not waited for (SKIP LOCKED): a runner whose row a rebuild's switch holds sits
            # this batch out instead of holding the connection while the switch runs.
            locked = try_lock_positions(tx, self._db, [r.name for r in group])
            members = []
            for runner in group:
                if runner.name not in locked:
                    continue
                if locked[runner.name] != old:
                    runner.forget_position()  # a rebuild swapped its tables in: read again
                    continue
                members.append(runner)
            if not members:
                return []
            entries = self._entries(tx, members)
            for runner in members:
                runner.apply(tx, batch, old, careful, entries.get(runner.projection.consumer, []))
            advance_positions(tx, [r.name for r in members], old, new, datetime.now(UTC))
            announce = next((r.announce for r in members if r.announce is not None), None)
            if announce is not None:
                announce(tx)  # once: every view's waiters listen on the one channel
        return members

    def _entries(self, tx: Tx, members: list[ProjectionRunner]) -> dict[str, list[QuarantineEntry]]:
        """Every member's held and released quarantine entries, in one query."""
        consumers = {r.projection.consumer for r in members}
        found: dict[str, list[QuarantineEntry]] = {}
        for entry in select_entries(tx, None, statuses=(HELD, RELEASED)):
            if entry.consumer in consumers:
                found.setdefault(entry.consumer, []).append(entry)
        return found

    def _apart(self, group: list[ProjectionRunner], error: Exception) -> int:
        """After a joint batch failed twice: each runner on its own, unless the database is
        down (then they all failed, and trying each would wait for it once per runner)."""
        if self._db.is_outage(error) and not self._answers():
            self._all_failed(group, error)
            return 0
        # One projection's trouble (a bug, a table gone) must not hold the others back.
        self._failed = True
        return max((self._alone(runner) for runner in group), default=0)

    def _answers(self) -> bool:
        """Whether the database answers at all."""
        try:
            self._db.one("SELECT 1 AS up")
        except Exception:
            return False
        return True

    def _all_failed(self, group: list[ProjectionRunner], error: Exception) -> None:
        """Every runner of the group failed this round (their breakers count it)."""
        self._failed = True
        stored = True
        for runner in group:
            runner.breaker.record_failure(error)
            # The first one tries to store the error; the others only if that worked.
            stored = runner.failed(error, store=stored)

    def _handle_requests(self, group: list[ProjectionRunner], position: int) -> None:
        """Act on operator requests while caught up: one query says which runners have some."""
        consumers = {r.projection.consumer for r in group}
        requested = {row["consumer"] for row in self._db.query(REQUESTED)} & consumers
        for runner in group:
            if runner.projection.consumer in requested:
                runner.handle_requests(position)
