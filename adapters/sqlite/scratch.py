"""Throwaway SQLite copies of the read tables: time travel in memory, a rebuild's scratch files."""

from __future__ import annotations

from pathlib import Path

from adapters.migrations import apply_migrations
from adapters.sqlite.database import SqliteDatabase

IN_MEMORY = Path(":memory:")
# Nothing to make durable: the copy is read back at once, or rebuilt.
UNSYNCED_PRAGMAS = ("PRAGMA synchronous = OFF", "PRAGMA cache_size = -1048576")  # up to 1 GiB


def scratch_database(path: Path = IN_MEMORY, *, unsynced: bool = False) -> SqliteDatabase:
    """A migrated, empty copy of the read tables (in memory: one per thread that uses it)."""
    scratch = SqliteDatabase(path)
    try:
        if unsynced:
            for pragma in UNSYNCED_PRAGMAS:
                scratch.query(pragma)
        apply_migrations(scratch, announce=False)  # a scratch copy: nothing to announce
    except BaseException:
        scratch.close()
        raise
    return scratch
