"""SQLite's "one holder per name": one process per database file, and file locks beside it."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.sqlite.database import SqliteDatabase
from projections.rebuild import RebuildLockedError


class LocalLease:
    """Always held: one process per database is assumed (SQLite, tests)."""

    def acquire(self) -> bool:
        """Always True."""
        return True

    def release(self) -> None:
        """Nothing to give up."""


@contextmanager
def rebuild_lock(database: SqliteDatabase, name: str) -> Iterator[None]:
    """Hold the rebuild lock of projection `name`: a lock file beside the database.

    Raises:
        RebuildLockedError: another rebuild of it runs.
    """
    path = database.path.with_name(f"{database.path.name}.rebuild-{name}.lock")
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RebuildLockedError(f"another rebuild of {name!r} is running") from None
        yield
