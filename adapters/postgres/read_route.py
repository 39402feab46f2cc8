"""One request's reads: from the replica while it is usable, else (or once pinned) the primary."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from adapters.postgres.replica_monitor import PROBE_SECONDS
from application.ports import Wakeup
from projections.ports import Database, Params, Row, Tx
from projections.waiter import PositionWaiter

if TYPE_CHECKING:
    from collections.abc import Callable

    from adapters.postgres.database import PostgresDatabase
    from adapters.postgres.replica_monitor import ReplicaMonitor

logger = logging.getLogger(__name__)

T = TypeVar("T")
REPLICA_POLL_SECONDS = 0.01  # a standby hears no NOTIFY: its tracking rows are polled


@dataclass
class Replica:
    """A process's read replica: the readers' pool, its monitor, and how reads are counted.

    A write the replica did not show within a request's bound holds every request of the
    process back on the primary until the replica's tracking rows show it, so that the next
    request (the page a UI form redirects to) does not read an older state than the last.
    """

    database: PostgresDatabase
    monitor: ReplicaMonitor
    count: Callable[[str], None]  # "replica", or why a read went to the primary
    _behind: dict[str, int] = field(default_factory=dict)  # view -> position it must show
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, primary: Database) -> ReadRoute:
        """A fresh route for one request."""
        return ReadRoute(primary, self)

    @property
    def held_back(self) -> bool:
        """Whether the replica still lacks a write some request could not see on it."""
        return bool(self._behind)

    def hold_back(self, position: int, names: Iterable[str]) -> None:
        """Keep reads on the primary until the replica's views have `position`."""
        with self._lock:
            for name in names:
                self._behind[name] = max(self._behind.get(name, 0), position)

    def release_caught_up(self) -> None:
        """Forget the writes the replica's tracking rows show by now."""
        if not self._behind or not self.monitor.usable():
            return
        positions = PositionWaiter(self.database, Wakeup()).positions()
        with self._lock:
            self._behind = {n: p for n, p in self._behind.items() if positions.get(n, 0) < p}

    def run_forever(self, stop: threading.Event, interval: float = PROBE_SECONDS) -> None:
        """Probe the replica (and release held-back writes) until `stop` is set."""
        try:
            while not stop.is_set():
                self.monitor.probe()
                try:
                    self.release_caught_up()
                except Exception as error:  # the next probe tells whether it is down
                    logger.debug("replica positions unreadable: %s", error)
                stop.wait(interval)
        finally:
            self.monitor.close()

    def close(self) -> None:
        """Close the readers' pool (the probe's connection closes when its thread ends)."""
        self.database.close()


class ReadRoute:
    """A `Database` for one request: reads on the replica unless it is down, behind, or
    the request pinned the primary to see its own write; every write on the primary."""

    dialect = "postgres"

    def __init__(self, primary: Database, replica: Replica) -> None:
        self._primary = primary
        self._replica = replica
        self._pinned = False

    @property
    def serving(self) -> str:
        """Where the next read goes: "replica" or "primary"."""
        return "replica" if self._skipped() is None else "primary"

    def _skipped(self) -> str | None:
        """Why reads skip the replica now ("pinned", a monitor status, "held_back"), or None."""
        if self._pinned:
            return "pinned"
        if not self._replica.monitor.usable():
            return self._replica.monitor.state.status
        return "held_back" if self._replica.held_back else None

    def use_primary(self, position: int | None = None, names: Iterable[str] = ()) -> None:
        """Read from the primary for the rest of the request (read-your-writes); with the
        `position` the replica did not show in time, hold the process's reads back too."""
        if position is not None:
            self._replica.hold_back(position, names)
        if not self._pinned:
            self._pinned = True
            self._replica.count("read_your_writes")

    def replica_reached(self, position: int, names: Iterable[str], timeout: float) -> bool:
        """Wait (bounded, polling) until the replica's tracking rows have `position` for
        every named view; True at once when reads do not go to the replica anyway (it is
        then held back until it shows `position`, whenever it serves again)."""
        names = tuple(names)
        if self.serving != "replica":
            self._replica.hold_back(position, names)
            return True
        waiter = PositionWaiter(self._replica.database, Wakeup(), REPLICA_POLL_SECONDS)
        try:
            return waiter.wait(position, names, max(timeout, 0.0))
        except Exception as error:
            self._lost(error)
            return False

    def positions(self) -> dict[str, int]:
        """Each view's applied position where this request reads."""
        return PositionWaiter(self, Wakeup()).positions()

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows, from the replica when it answers, else from the primary."""
        return self._read(lambda db: db.query(sql, params))

    def one(self, sql: str, params: Params = None) -> Row | None:
        """One row, from the replica when it answers, else from the primary."""
        return self._read(lambda db: db.one(sql, params))

    def _read(self, read: Callable[[Database], T]) -> T:
        skipped = self._skipped()
        if skipped is None:
            try:
                result = read(self._replica.database)
            except Exception as error:
                if not self._replica.database.is_outage(error):
                    raise  # the query's own fault: the primary would refuse it alike
                self._lost(error)
            else:
                self._replica.count("replica")
                return result
        elif skipped != "pinned":
            self._replica.count(skipped)
        return read(self._primary)

    def _lost(self, error: BaseException) -> None:
        if isinstance(error, PoolTimeout):  # every replica connection busy: spill over
            self._replica.count("busy")
        elif isinstance(error, psycopg.errors.SerializationFailure):
            self._replica.count("conflict")  # cancelled by replay (a recovery conflict)
        else:
            logger.warning("read replica unavailable; reading from the primary: %s", error)
            self._replica.monitor.failed(error)
            self._replica.count("error")
        self._pinned = True

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """On the primary: a standby takes no writes."""
        with self._primary.transaction() as tx:
            yield tx

    @contextmanager
    def pipelined(self) -> Iterator[Tx]:
        """On the primary."""
        with self._primary.pipelined() as tx:
            yield tx

    def is_outage(self, error: BaseException) -> bool:
        """As the primary judges it."""
        return self._primary.is_outage(error)

    def for_update(self, select: str, *, skip_locked: bool = False) -> str:
        """As the primary writes it."""
        return self._primary.for_update(select, skip_locked=skip_locked)

    def has_table(self, name: str) -> bool:
        """On the primary (the replica has what the primary had, later)."""
        return self._primary.has_table(name)

    def close(self) -> None:
        """Nothing: the pools belong to the process."""
