"""The one session connection of a process: its LISTEN and every advisory lock it holds.

Session state (LISTEN, advisory locks) cannot live on pooled connections, so each process
keeps exactly one connection outside the pool for it. When that connection is lost the
server has released every lock on it: the `generation` changes, and each lock holder sees
that it no longer holds its lock (`holds`) and takes it again on the next connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import psycopg

logger = logging.getLogger(__name__)

T = TypeVar("T")
TRY_LOCK = "SELECT pg_try_advisory_lock(%s::int, hashtext(%s))"
UNLOCK = "SELECT pg_advisory_unlock(%s::int, hashtext(%s))"


class SessionUnavailableError(psycopg.OperationalError):
    """The session connection is down (the server is unreachable or restarting)."""


class PostgresSession:
    """One autocommit connection, reopened on demand; thread-safe (psycopg serialises calls)."""

    def __init__(self, conninfo: str, options: dict[str, Any], setup: Sequence[str] = ()) -> None:
        self._conninfo = conninfo
        self._options = options
        self._setup = tuple(setup)  # run on every (re)connect, e.g. LISTEN
        self._state = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        self._generation = 0
        self._on_change: list[Callable[[], None]] = []

    @property
    def connected(self) -> bool:
        """Whether the session is open (as far as this process knows)."""
        return self._connection is not None

    @property
    def backend_pid(self) -> int | None:
        """The server process of the session (pg_stat_activity.pid), None while it is down."""
        connection = self._connection
        return connection.info.backend_pid if connection is not None else None

    @property
    def generation(self) -> int:
        """Changes whenever the connection is replaced or lost."""
        return self._generation

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after each loss and each reconnect (outside any lock)."""
        self._on_change.append(callback)

    def connect(self) -> None:
        """Open the session (again) and run its setup statements.

        Raises:
            psycopg.Error: the server cannot be reached.
        """
        connection = psycopg.connect(self._conninfo, autocommit=True, **self._options)
        try:
            for statement in self._setup:
                connection.execute(statement)
        except BaseException:
            connection.close()
            raise
        with self._state:
            old, self._connection = self._connection, connection
            self._generation += 1
        if old is not None:
            with suppress(psycopg.Error):
                old.close()
        self._changed()

    def holds(self, generation: int) -> bool:
        """Whether a lock taken in `generation` is still held (the session was not lost)."""
        return self._connection is not None and self._generation == generation

    def try_lock(self, lock_class: int, name: str) -> int | None:
        """Take the advisory lock (class, name) if free: its generation, else None."""
        try:
            generation, row = self._run(
                lambda c: c.execute(TRY_LOCK, (lock_class, name)).fetchone()
            )
        except psycopg.Error as error:
            logger.debug("cannot take lock %s/%s: %s", lock_class, name, error)
            return None
        return generation if row and row[0] else None

    def unlock(self, lock_class: int, name: str, generation: int) -> None:
        """Give a lock up, unless its session is gone already (which released it)."""
        if self.holds(generation):
            with suppress(psycopg.Error):
                self._run(lambda c: c.execute(UNLOCK, (lock_class, name)))

    @contextmanager
    def locked(self, key: int) -> Iterator[None]:
        """Hold the advisory lock `key`, waiting for it (start-up schema creation).

        Raises:
            psycopg.Error: the server cannot be reached.
        """
        generation, _ = self._run(lambda c: c.execute("SELECT pg_advisory_lock(%s)", (key,)))
        try:
            yield
        finally:
            if self.holds(generation):
                with suppress(psycopg.Error):
                    self._run(lambda c: c.execute("SELECT pg_advisory_unlock(%s)", (key,)))

    def wait_for_notification(self, timeout: float) -> str | None:
        """Wait up to `timeout` for a NOTIFY on a channel the setup LISTENs to; its channel.

        Raises:
            psycopg.Error: the session is down or was lost now.
        """
        _, received = self._run(
            lambda c: next((n.channel for n in c.notifies(timeout=timeout, stop_after=1)), None)
        )
        return received

    def ping(self) -> None:
        """A round trip, so a silently dead connection is noticed (and its locks given up).

        Raises:
            psycopg.Error: the session is down or was lost now.
        """
        self._run(lambda c: c.execute("SELECT 1"))

    def close(self) -> None:
        """Close the connection; the server releases every lock on it."""
        with self._state:
            connection, self._connection = self._connection, None
            self._generation += 1
        if connection is not None:
            with suppress(psycopg.Error):
                connection.close()

    def _run(self, operation: Callable[[psycopg.Connection[Any]], T]) -> tuple[int, T]:
        with self._state:
            connection, generation = self._connection, self._generation
        if connection is None:
            raise SessionUnavailableError("the PostgreSQL session connection is down")
        try:
            return generation, operation(connection)
        except psycopg.Error as error:
            if connection.broken or connection.closed:
                self._lost(connection, error)
            raise

    def _lost(self, connection: psycopg.Connection[Any], error: Exception) -> None:
        with self._state:
            if self._connection is not connection:
                return  # someone noticed first
            self._connection = None
            self._generation += 1
        logger.warning("PostgreSQL session connection lost (locks released): %s", error)
        with suppress(psycopg.Error):
            connection.close()
        self._changed()

    def _changed(self) -> None:
        for callback in self._on_change:
            try:
                callback()
            except Exception:  # a failing observer must not take the session down
                logger.exception("session change callback failed")
