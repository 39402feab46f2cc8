"""SQLite behind the SQL port: WAL mode, one connection per thread, portable placeholders."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

from adapters.sql_store import MIGRATIONS_ROOT, Migrations
from adapters.sqlite.event_tables import SqliteEventTables
from projections.ports import Params, Row

TABLE_EXISTS = (
    "SELECT count(*) > 0 AS present FROM sqlite_master WHERE type = 'table' AND name = %(table)s"
)


def sqlite_time(value: datetime) -> str:
    """Fixed-width UTC ISO text, so that text order is time order in SQLite."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


@lru_cache(maxsize=512)
def _to_sqlite_sql(sql: str) -> str:
    return re.sub(r"%\((\w+)\)s", r":\1", sql).replace("%%", "%")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return sqlite_time(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def _sqlite_params(params: Params) -> dict[str, Any]:
    return {k: _sqlite_value(v) for k, v in (params or {}).items()}


class SqliteTx:
    """A transaction on one SQLite connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the affected row count."""
        return self._connection.execute(_to_sqlite_sql(sql), _sqlite_params(params)).rowcount

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement for many parameter sets."""
        self._connection.executemany(_to_sqlite_sql(sql), [_sqlite_params(r) for r in rows])

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows as dicts."""
        cursor = self._connection.execute(_to_sqlite_sql(sql), _sqlite_params(params))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, params: Params = None) -> Row | None:
        """The first row, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside rolls back only what it did."""
        self._connection.execute("SAVEPOINT guarded")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK TO SAVEPOINT guarded")
            self._connection.execute("RELEASE SAVEPOINT guarded")
            raise
        self._connection.execute("RELEASE SAVEPOINT guarded")


class SqliteDatabase:
    """SQLite in WAL mode, one connection per thread, writes in BEGIN IMMEDIATE."""

    dialect = "sqlite"  # its name (tests read it); nothing branches on it
    migrations = Migrations(MIGRATIONS_ROOT / "sqlite")  # BEGIN IMMEDIATE keeps them apart

    def __init__(self, path: Path, lock_timeout_seconds: float = 5.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._timeout = lock_timeout_seconds
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def event_tables(self) -> SqliteEventTables:
        """The event store's tables in the same file."""
        return SqliteEventTables(self)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def transaction(self) -> Iterator[SqliteTx]:
        """A write transaction: committed on success, rolled back on error."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield SqliteTx(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def pipelined(self) -> AbstractContextManager[SqliteTx]:
        """A write transaction (in-process SQLite has no round trips to save)."""
        return self.transaction()

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Read rows outside an explicit transaction."""
        return SqliteTx(self._connection()).query(sql, params)

    def one(self, sql: str, params: Params = None) -> Row | None:
        """Read one row outside an explicit transaction."""
        return SqliteTx(self._connection()).one(sql, params)

    def is_outage(self, error: BaseException) -> bool:
        """Locked, missing or unreadable files and tables are the database's, not the data's."""
        # DatabaseError itself: "file is not a database"; its other subclasses are the data's.
        return isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError

    def for_update(self, select: str, *, skip_locked: bool = False) -> str:
        """As it is: BEGIN IMMEDIATE already excludes every other writer."""
        return select

    def has_table(self, name: str) -> bool:
        """From sqlite_master."""
        row = self.one(TABLE_EXISTS, {"table": name})
        return bool(row and row["present"])

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
