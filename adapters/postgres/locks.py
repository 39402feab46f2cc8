"""PostgreSQL's "one holder per name": advisory locks on the process's session connection."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.session import PostgresSession
from projections.rebuild import RebuildLockedError

logger = logging.getLogger(__name__)

SCHEMA_LOCK_KEY = 727_001  # advisory lock held while a process creates tables
# With hashtext(projection name) as the second key: one runner per projection cluster-wide.
PROJECTION_LOCK_CLASS = 727_002
REBUILD_LOCK_CLASS = 727_003  # with hashtext(name): one rebuild per projection at a time


class SessionLease:
    """A projection's lease: an advisory lock on the process's session (projections.Lease).

    One lease per lock per process: advisory locks are re-entrant within a session.
    """

    def __init__(self, session: PostgresSession, lock_class: int, name: str) -> None:
        self._session = session
        self._class = lock_class
        self._name = name
        self._generation: int | None = None

    def acquire(self) -> bool:
        """Confirm the lock is still held, or try to take it; False while someone else has it."""
        if self._generation is not None and self._session.holds(self._generation):
            return True
        if self._generation is not None:
            logger.warning("projection %s lost its lease with the session", self._name)
        self._generation = self._session.try_lock(self._class, self._name)
        return self._generation is not None

    def release(self) -> None:
        """Give the lock up."""
        generation, self._generation = self._generation, None
        if generation is not None:
            self._session.unlock(self._class, self._name, generation)


def projection_lease(session: PostgresSession, name: str) -> SessionLease:
    """The lease of projection `name`: one runner of it in the whole cluster."""
    return SessionLease(session, PROJECTION_LOCK_CLASS, name)


@contextmanager
def rebuild_lock(database: PostgresDatabase, name: str) -> Iterator[None]:
    """Hold the rebuild lock of projection `name` (on the session, so within pool_size).

    Raises:
        RebuildLockedError: another rebuild of it runs, or the database is unreachable.
    """
    session = database.session
    assert session is not None, "a rebuild opens its PostgreSQL store with a session"
    generation = session.try_lock(REBUILD_LOCK_CLASS, name)
    if generation is None:
        if not session.connected:
            raise RebuildLockedError(f"cannot lock {name!r}: the database is unreachable")
        raise RebuildLockedError(f"another rebuild of {name!r} is running")
    try:
        yield
    finally:
        session.unlock(REBUILD_LOCK_CLASS, name, generation)
