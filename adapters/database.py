"""One small SQL port over SQLite and PostgreSQL, so views share their queries."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from adapters.pg_pool import RECONNECT_GIVE_UP_SECONDS, BudgetPool
from projections.ports import Database, Params, Row, Tx

if TYPE_CHECKING:
    from adapters.pg_session import PostgresSession

__all__ = ["Database", "PostgresDatabase", "SqliteDatabase", "Tx"]

# Connection, resources, operator intervention, system, internal, rollback (deadlock,
# serialisation), object state (lock not available): the server's trouble, not the data's.
OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58", "XX", "40", "55"})
# A schema that is not there or not ours: every event would fail alike.
OUTAGE_SQLSTATES = frozenset({"42P01", "42703", "42883", "42501", "3D000", "3F000"})


def to_datetime(value: Any) -> datetime | None:
    """Read a stored time back as an aware UTC datetime (SQLite keeps ISO text)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


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

    dialect = "sqlite"

    def __init__(self, path: Path, lock_timeout_seconds: float = 5.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._timeout = lock_timeout_seconds
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

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

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


class PostgresTx:
    """A transaction on one pooled PostgreSQL connection."""

    def __init__(self, cursor: psycopg.Cursor[Row]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the affected row count."""
        self._cursor.execute(sql, params)  # type: ignore[arg-type]
        return self._cursor.rowcount

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement for many parameter sets (pipelined by psycopg)."""
        self._cursor.executemany(sql, rows)  # type: ignore[arg-type]

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows as dicts."""
        self._cursor.execute(sql, params)  # type: ignore[arg-type]
        return list(self._cursor.fetchall())

    def one(self, sql: str, params: Params = None) -> Row | None:
        """The first row, or None."""
        self._cursor.execute(sql, params)  # type: ignore[arg-type]
        return self._cursor.fetchone()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction (SAVEPOINT): an error inside rolls back only what it did."""
        with self._cursor.connection.transaction():
            yield


class PostgresDatabase:
    """The read tables on a psycopg pool, usually the one the event store draws on too.

    `session` is the process's session connection (advisory locks), when it has one.
    """

    dialect = "postgres"

    def __init__(
        self,
        pool: ConnectionPool[Any],
        session: PostgresSession | None = None,
        *,
        owns_pool: bool = False,
    ) -> None:
        self._pool = pool
        self.session = session
        self._owns_pool = owns_pool

    @classmethod
    def standalone(
        cls, conninfo: str, options: Mapping[str, Any], size: int, timeout_seconds: float
    ) -> PostgresDatabase:
        """A database with a pool of its own (for tools that need the read tables alone)."""
        pool = BudgetPool(
            conninfo,
            min_size=1,
            max_size=size,
            timeout=timeout_seconds,
            kwargs={**options, "autocommit": True, "row_factory": dict_row},
            check=ConnectionPool.check_connection,
            reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
            open=True,
            name=str(options.get("application_name", "scheduler-views")),
        )
        return cls(pool, owns_pool=True)

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The pool the read tables draw on."""
        return self._pool

    @contextmanager
    def transaction(self) -> Iterator[PostgresTx]:
        """A transaction: committed on success, rolled back on error."""
        with (
            self._pool.connection() as connection,
            connection.transaction(),
            connection.cursor(row_factory=dict_row) as cursor,
        ):
            yield PostgresTx(cursor)

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Read rows in autocommit mode."""
        with (
            self._pool.connection() as connection,
            connection.cursor(row_factory=dict_row) as cursor,
        ):
            return PostgresTx(cursor).query(sql, params)

    def one(self, sql: str, params: Params = None) -> Row | None:
        """Read one row in autocommit mode."""
        with (
            self._pool.connection() as connection,
            connection.cursor(row_factory=dict_row) as cursor,
        ):
            return PostgresTx(cursor).one(sql, params)

    def is_outage(self, error: BaseException) -> bool:
        """Connection, resource and missing-schema errors are the server's; data, type and
        constraint errors (SQLSTATE 22, 23, 42804…) come from the event being applied."""
        if isinstance(error, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError):
            return True
        if isinstance(error, psycopg.Error):
            state = error.sqlstate or ""
            return state[:2] in OUTAGE_SQLSTATE_CLASSES or state in OUTAGE_SQLSTATES
        return False

    def close(self) -> None:
        """Close the pool if it is this object's own (a shared one closes with its owner)."""
        if self._owns_pool:
            self._pool.close()
