"""PostgreSQL behind the SQL port: transactions on the process's one psycopg pool."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from eventsourcing.application import Application
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from adapters.postgres.event_store import event_store_pool
from adapters.postgres.event_tables import PostgresEventTables
from adapters.postgres.pool import RECONNECT_GIVE_UP_SECONDS, BudgetPool, check_unless_fresh
from adapters.sql_store import MIGRATIONS_ROOT, Migrations
from projections.ports import Params, Row

if TYPE_CHECKING:
    from adapters.postgres.session import PostgresSession

# Connection, resources, operator intervention, system, internal, rollback (deadlock,
# serialisation), object state (lock not available): the server's trouble, not the data's.
OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58", "XX", "40", "55"})
# A schema that is not there or not ours: every event would fail alike.
OUTAGE_SQLSTATES = frozenset({"42P01", "42703", "42883", "42501", "3D000", "3F000"})
TABLE_EXISTS = "SELECT to_regclass(%(table)s) IS NOT NULL AS present"
# Concurrent `scheduler migrate` runs (and processes starting at once) queue on this.
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(727274)"


class PostgresTx:
    """A transaction on one pooled PostgreSQL connection."""

    def __init__(self, cursor: psycopg.Cursor[Row]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the affected row count."""
        self._cursor.execute(sql, params)
        return self._cursor.rowcount

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement for many parameter sets (pipelined by psycopg)."""
        self._cursor.executemany(sql, rows)

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows as dicts."""
        self._cursor.execute(sql, params)
        return list(self._cursor.fetchall())

    def one(self, sql: str, params: Params = None) -> Row | None:
        """The first row, or None."""
        self._cursor.execute(sql, params)
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

    dialect = "postgres"  # its name (tests read it); nothing branches on it
    migrations = Migrations(MIGRATIONS_ROOT / "postgres", lock=MIGRATION_LOCK)

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
            check=check_unless_fresh,
            reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
            open=True,
            name=str(options.get("application_name", "scheduler-views")),
        )
        return cls(pool, owns_pool=True)

    @classmethod
    def on_event_store(cls, app: Application[Any], session: PostgresSession) -> PostgresDatabase:
        """The read tables on the pool of `app`'s event store, beside the process's session."""
        pool = event_store_pool(app)
        # After a loss the pool's idle connections are dead and after a reconnect the
        # server is back: check them at once instead of on some request's checkout.
        session.on_change(pool.check)
        return cls(pool, session)

    @property
    def event_tables(self) -> PostgresEventTables:
        """The event store's tables beside the read tables."""
        return PostgresEventTables(self)

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

    @contextmanager
    def pipelined(self) -> Iterator[PipelinedTx]:
        """A transaction in pipeline mode: a batch of writes costs one round trip, not one each."""
        with (
            self._pool.connection() as connection,
            connection.transaction(),
            connection.pipeline(),
        ):
            yield PipelinedTx(connection)

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

    def for_update(self, select: str, *, skip_locked: bool = False) -> str:
        """`SELECT ... FOR UPDATE`, with `SKIP LOCKED` when asked."""
        return f"{select} FOR UPDATE" + (" SKIP LOCKED" if skip_locked else "")

    def has_table(self, name: str) -> bool:
        """From to_regclass (search_path)."""
        row = self.one(TABLE_EXISTS, {"table": name})
        return bool(row and row["present"])

    def close(self) -> None:
        """Close the pool if it is this object's own (a shared one closes with its owner)."""
        if self._owns_pool:
            self._pool.close()


@contextmanager
def unsynced(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """A transaction whose commit does not wait for the WAL flush; it ends with it."""
    with connection.transaction():
        # Shadow rows lost in a crash are rebuilt anyway. SET LOCAL, because the connection
        # goes back to the pool the event store draws on, which must keep synchronous commits.
        connection.execute("SET LOCAL synchronous_commit = off")
        yield


class PipelinedTx:
    """Statements are sent without waiting for their answers; a read waits for its own only.

    Row counts are unknown until the pipeline syncs, so `execute` returns -1: projection
    handlers never use them.
    """

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection
        self._cursor = connection.cursor()

    def execute(self, sql: str, params: Params = None) -> int:
        """Queue one statement."""
        self._cursor.execute(sql, params, prepare=True)
        return -1

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue one statement per parameter set."""
        self._cursor.executemany(sql, rows)

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows, on a cursor of their own so that no earlier statement's result is taken."""
        with self._connection.cursor() as cursor:
            cursor.execute(sql, params, prepare=True)
            return list(cursor.fetchall())

    def one(self, sql: str, params: Params = None) -> Row | None:
        """The first row, or None."""
        with self._connection.cursor() as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchone()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A SAVEPOINT (psycopg syncs the pipeline on leaving it, so errors surface here)."""
        with self._connection.transaction():
            yield
